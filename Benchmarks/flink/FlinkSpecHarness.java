// Builds the random cases of constructs.py with Flink CEP 2.3's Pattern API and runs them in one job (event time,
// parallelism 1, one CEP operator per case over that case's events), writing one line per match:
// "<case> <step>=<offset> ...", steps in pattern order, each step's events in order.
//
// Usage: java FlinkSpecHarness SPEC_JSON EVENTS_JSONL OUT_FILE LATENESS_MS
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.time.Duration;
import java.util.*;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.cep.CEP;
import org.apache.flink.cep.PatternSelectFunction;
import org.apache.flink.cep.nfa.aftermatch.AfterMatchSkipStrategy;
import org.apache.flink.cep.pattern.Pattern;
import org.apache.flink.cep.pattern.WithinType;
import org.apache.flink.cep.pattern.conditions.IterativeCondition;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

public class FlinkSpecHarness {
    /** One event of a case. */
    public static class Ev implements Serializable {
        public int c; public String k; public String name; public int x; public long ts; public long offset;
        public Ev() {}
    }

    /** A condition tree of constructs.py: name, xge, xlt, gtprev (x above the previous step's last x), and, or. */
    static class Cond extends IterativeCondition<Ev> {
        final String json; final String previous;
        transient JsonNode node;
        Cond(JsonNode node, String previous) { this.json = node.toString(); this.previous = previous; }
        public boolean filter(Ev e, Context<Ev> ctx) throws Exception {
            if (node == null) node = new ObjectMapper().readTree(json);
            return eval(node, e, ctx);
        }
        boolean eval(JsonNode n, Ev e, Context<Ev> ctx) throws Exception {
            switch (n.get("op").asText()) {
                case "name": return e.name.equals(n.get("v").asText());
                case "xge": return e.x >= n.get("v").asInt();
                case "xlt": return e.x < n.get("v").asInt();
                case "gtprev": {
                    Integer last = null;
                    for (Ev p : ctx.getEventsForPattern(previous)) last = p.x;
                    return last != null && e.x > last;
                }
                case "and": return eval(n.get("args").get(0), e, ctx) && eval(n.get("args").get(1), e, ctx);
                case "or": return eval(n.get("args").get(0), e, ctx) || eval(n.get("args").get(1), e, ctx);
                default: throw new IllegalArgumentException("unknown condition " + n);
            }
        }
    }

    static AfterMatchSkipStrategy skip(JsonNode c) {
        switch (c.get("skip").asText()) {
            case "none": return AfterMatchSkipStrategy.noSkip();
            case "pastLast": return AfterMatchSkipStrategy.skipPastLastEvent();
            case "next": return AfterMatchSkipStrategy.skipToNext();
            case "first": return AfterMatchSkipStrategy.skipToFirst(c.get("skipName").asText());
            case "last": return AfterMatchSkipStrategy.skipToLast(c.get("skipName").asText());
            default: throw new IllegalArgumentException("unknown skip " + c.get("skip"));
        }
    }

    static Pattern<Ev, Ev> pattern(JsonNode c) {
        Pattern<Ev, Ev> p = null;
        String previous = null;
        for (JsonNode step : c.get("steps")) {
            String name = step.get("name").asText();
            String contiguity = step.get("contiguity").asText();
            boolean negated = step.has("negated");
            if (p == null) {
                p = Pattern.<Ev>begin(name, skip(c));
            } else if (negated) {
                p = contiguity.equals("strict") ? p.notNext(name) : p.notFollowedBy(name);
            } else {
                p = contiguity.equals("strict") ? p.next(name) : contiguity.equals("any") ? p.followedByAny(name) : p.followedBy(name);
            }
            if (step.hasNonNull("cond")) p = p.where(new Cond(step.get("cond"), previous));
            if (step.hasNonNull("q")) {
                String q = step.get("q").asText();
                boolean optional = q.endsWith(" optional");
                q = q.replace(" optional", "");
                // cepd's `within` on a repeating step is the window of times(n, m, window).
                Duration w = step.hasNonNull("within") ? Duration.ofMillis(step.get("within").asLong()) : null;
                if (q.equals("?")) { p = p.optional(); }
                else if (q.equals("+")) { p = p.oneOrMore(w); }
                else if (q.equals("*")) { p = p.oneOrMore(w).optional(); }
                else {
                    String[] bounds = q.substring(1, q.length() - 1).split(",", -1);
                    int lo = Integer.parseInt(bounds[0]);
                    if (bounds.length == 1) p = p.times(lo, w);
                    else if (bounds[1].isEmpty()) p = p.timesOrMore(lo, w);
                    else p = p.times(lo, Integer.parseInt(bounds[1]), w);
                }
                if (optional) p = p.optional();
                if (step.has("inner")) {
                    if (step.get("inner").asText().equals("strict")) p = p.consecutive();
                    if (step.get("inner").asText().equals("any")) p = p.allowCombinations();
                }
                if (step.has("greedy")) p = p.greedy();
                if (step.hasNonNull("until")) p = p.until(new Cond(step.get("until"), previous));
            }
            boolean repeats = step.hasNonNull("q") && !step.get("q").asText().equals("?");
            if (step.hasNonNull("within") && !repeats) {
                p = p.within(Duration.ofMillis(step.get("within").asLong()), WithinType.PREVIOUS_AND_CURRENT);
            }
            if (!negated) previous = name;
        }
        if (c.hasNonNull("window")) p = p.within(Duration.ofMillis(c.get("window").asLong()));
        return p;
    }

    /** Runs some cases in one job; writes their matches and returns how many. */
    static int run(List<JsonNode> cases, List<Ev> allEvents, long lateness, PrintWriter w) throws Exception {
        Set<Integer> ids = new HashSet<>();
        for (JsonNode c : cases) ids.add(c.get("id").asInt());
        List<Ev> events = new ArrayList<>();
        for (Ev e : allEvents) if (ids.contains(e.c)) events.add(e);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        DataStream<Ev> all = env.fromData(events)
            .assignTimestampsAndWatermarks(WatermarkStrategy.<Ev>forBoundedOutOfOrderness(Duration.ofMillis(lateness))
                .withTimestampAssigner((e, t) -> e.ts));
        DataStream<String> matches = null;
        for (JsonNode c : cases) {
            final int id = c.get("id").asInt();
            List<String> steps = new ArrayList<>();
            for (JsonNode step : c.get("steps")) if (!step.has("negated")) steps.add(step.get("name").asText());
            DataStream<String> out = CEP.pattern(all.filter(e -> e.c == id).keyBy(e -> e.k), pattern(c))
                .select((PatternSelectFunction<Ev, String>) m -> {
                    StringBuilder b = new StringBuilder().append(id);
                    for (String step : steps) {
                        List<Ev> bound = m.get(step);
                        if (bound == null) continue;
                        for (Ev e : bound) b.append(' ').append(step).append('=').append(e.offset);
                    }
                    return b.toString();
                });
            matches = matches == null ? out : matches.union(out);
        }
        int count = 0;
        try (var it = matches.executeAndCollect()) {
            while (it.hasNext()) { w.println(it.next()); count++; }
        }
        return count;
    }

    public static void main(String[] args) throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        JsonNode spec = mapper.readTree(new File(args[0]));
        List<Ev> events = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(Paths.get(args[1]), StandardCharsets.UTF_8)) {
            String line; long n = 0;
            while ((line = r.readLine()) != null) {
                JsonNode j = mapper.readTree(line);
                Ev e = new Ev();
                e.c = j.get("c").asInt(); e.k = j.get("k").asText(); e.name = j.get("name").asText();
                e.x = j.get("x").asInt(); e.ts = j.get("ts").asLong(); e.offset = n++;
                events.add(e);
            }
        }
        long lateness = Long.parseLong(args[3]);
        List<JsonNode> cases = new ArrayList<>();
        spec.forEach(cases::add);
        int count = 0;
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(Paths.get(args[2]), StandardCharsets.UTF_8))) {
            // One job per 150 cases: a mini cluster's network buffers run out at a few hundred operators.
            for (int from = 0; from < cases.size(); from += 150) {
                count += run(cases.subList(from, Math.min(from + 150, cases.size())), events, lateness, w);
            }
            if (w.checkError()) throw new IOException("could not write " + args[2]);
        }
        System.err.printf("flink: %d matches%n", count);
    }
}
