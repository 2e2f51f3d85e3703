import CEPDaemon

/// The `cepd` executable: everything lives in CEPDaemon.
@main
struct CepdMain {
    static func main() {
        CepdCommand.runAndExit()
    }
}
