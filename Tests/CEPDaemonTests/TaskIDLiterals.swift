public import CEPRuntime

// Tests name tasks by number (`lifecycle.start(0, …)`); the product spells `TaskID(0)`, so that a partition or an
// input number cannot pass for a task.
extension TaskID: ExpressibleByIntegerLiteral {
    public init(integerLiteral number: Int) { self.init(number) }
}
