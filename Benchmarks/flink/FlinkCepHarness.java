// Runs the patterns of patterns.cep with Flink CEP 2.3 (event time, parallelism 1) on cepd's replay files and
// writes one line per match: "<pattern> <step>=<topic>:<offset> ...", steps in pattern order, events in order.
//
// Usage: java FlinkCepHarness PATTERN OUT_FILE TOPIC=FILE...   (PATTERN: fraud | strict | probes | noskip | stepwindow | greedy)
// A single input named "events" holds all kinds, each line with "type": "login", "geo" or "payment".
// Each input file is one FileSource (so each topic has its own watermark, as each cepd partition does); its lines
// are first copied with their offset prepended, because a file source does not know line numbers.
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.time.Duration;
import java.util.*;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.cep.CEP;
import org.apache.flink.cep.PatternSelectFunction;
import org.apache.flink.cep.nfa.aftermatch.AfterMatchSkipStrategy;
import org.apache.flink.cep.pattern.Pattern;
import org.apache.flink.cep.pattern.WithinType;
import org.apache.flink.cep.pattern.conditions.IterativeCondition;
import org.apache.flink.cep.pattern.conditions.SimpleCondition;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

public class FlinkCepHarness {
    /** One decoded event; only the fields the patterns read. */
    public static class Ev implements Serializable {
        public String topic; public String source; public long offset; public String user; public long ts;
        public String country; public double amount;
        public Ev() {}
        /** Where the event came from: its file (cepd's topic) and line. */
        public String ref() { return source + ":" + offset; }
    }

    static class Parse implements MapFunction<String, Ev> {
        private final String topic;
        private transient ObjectMapper mapper;
        Parse(String topic) { this.topic = topic; }
        public Ev map(String line) throws Exception {
            if (mapper == null) mapper = new ObjectMapper();
            int tab = line.indexOf('\t');
            JsonNode n = mapper.readTree(line.substring(tab + 1));
            Ev e = new Ev();
            // A single file ("events") holds all three kinds, told apart by "type" (as cepd's stream filters do).
            e.source = topic;
            e.topic = topic.equals("events") ? TYPES.get(n.get("type").asText()) : topic;
            e.offset = Long.parseLong(line.substring(0, tab));
            e.user = n.get("user").asText();
            e.ts = n.get("ts").asLong();
            if (n.has("country")) e.country = n.get("country").asText();
            if (n.has("amount")) e.amount = n.get("amount").asDouble();
            return e;
        }
    }

    static final Map<String, String> TYPES = Map.of("login", "logins", "geo", "geo", "payment", "payments");

    static SimpleCondition<Ev> topic(String t) { return SimpleCondition.of(e -> e.topic.equals(t)); }

    static Pattern<Ev, Ev> pattern(String name) {
        Duration tenMinutes = Duration.ofMinutes(10);
        switch (name) {
            case "fraud":
                return Pattern.<Ev>begin("l", AfterMatchSkipStrategy.skipPastLastEvent()).where(topic("logins"))
                    .followedBy("g").where(new IterativeCondition<Ev>() {
                        public boolean filter(Ev e, Context<Ev> ctx) throws Exception {
                            if (!e.topic.equals("geo")) return false;
                            for (Ev l : ctx.getEventsForPattern("l")) if (e.country.equals(l.country)) return false;
                            return true;
                        }
                    })
                    .followedBy("p").where(SimpleCondition.of(e -> e.topic.equals("payments") && e.amount > 1000))
                    .within(tenMinutes);
            case "strict":
                return Pattern.<Ev>begin("l", AfterMatchSkipStrategy.skipPastLastEvent()).where(topic("logins"))
                    .next("g").where(topic("geo"))
                    .next("p").where(SimpleCondition.of(e -> e.topic.equals("payments") && e.amount > 100))
                    .within(tenMinutes);
            case "probes":
                return Pattern.<Ev>begin("small", AfterMatchSkipStrategy.skipPastLastEvent())
                    .where(SimpleCondition.of(e -> e.topic.equals("payments") && e.amount < 20)).timesOrMore(3)
                    .followedBy("big").where(SimpleCondition.of(e -> e.topic.equals("payments") && e.amount > 500))
                    .within(Duration.ofMinutes(5));
            case "stepwindow":
                return Pattern.<Ev>begin("l", AfterMatchSkipStrategy.skipPastLastEvent()).where(topic("logins"))
                    .followedBy("g").where(topic("geo")).within(Duration.ofSeconds(30), WithinType.PREVIOUS_AND_CURRENT)
                    .followedBy("p").where(SimpleCondition.of(e -> e.topic.equals("payments") && e.amount > 500))
                    .within(tenMinutes);
            case "greedy":
                return Pattern.<Ev>begin("small", AfterMatchSkipStrategy.noSkip())
                    .where(SimpleCondition.of(e -> e.topic.equals("payments") && e.amount < 20)).timesOrMore(2).greedy()
                    .followedBy("big").where(SimpleCondition.of(e -> e.topic.equals("payments") && e.amount < 50))
                    .within(Duration.ofMinutes(5));
            case "noskip":
                return Pattern.<Ev>begin("l", AfterMatchSkipStrategy.noSkip()).where(topic("logins"))
                    .followedBy("p").where(SimpleCondition.of(e -> e.topic.equals("payments") && e.amount > 1000))
                    .within(tenMinutes);
            default:
                throw new IllegalArgumentException("unknown pattern " + name);
        }
    }

    static final Map<String, String[]> STEPS = Map.of(
        "fraud", new String[] {"l", "g", "p"}, "strict", new String[] {"l", "g", "p"},
        "probes", new String[] {"small", "big"}, "noskip", new String[] {"l", "p"},
        "stepwindow", new String[] {"l", "g", "p"}, "greedy", new String[] {"small", "big"});

    public static void main(String[] args) throws Exception {
        String name = args[0];
        String out = args[1];
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        DataStream<Ev> all = null;
        java.nio.file.Path tmp = Files.createTempDirectory("flink-cep-input");
        for (int i = 2; i < args.length; i++) {
            String[] kv = args[i].split("=", 2);
            java.nio.file.Path numbered = tmp.resolve(kv[0] + "-" + i + ".tsv");
            try (BufferedReader r = Files.newBufferedReader(Paths.get(kv[1]), StandardCharsets.UTF_8);
                 BufferedWriter w = Files.newBufferedWriter(numbered, StandardCharsets.UTF_8)) {
                String line; long n = 0;
                while ((line = r.readLine()) != null) { w.write(n + "\t" + line); w.newLine(); n++; }
            }
            FileSource<String> source = FileSource
                .forRecordStreamFormat(new TextLineInputFormat(), new Path(numbered.toString())).build();
            DataStream<Ev> s = env.fromSource(source, WatermarkStrategy.noWatermarks(), kv[0])
                .map(new Parse(kv[0]))
                .assignTimestampsAndWatermarks(WatermarkStrategy.<Ev>forBoundedOutOfOrderness(Duration.ofSeconds(5))
                    .withTimestampAssigner((e, t) -> e.ts));
            all = all == null ? s : all.union(s);
        }
        String[] steps = STEPS.get(name);
        DataStream<String> matches = CEP.pattern(all.keyBy(e -> e.user), pattern(name))
            .select((PatternSelectFunction<Ev, String>) m -> {
                StringBuilder b = new StringBuilder(name);
                for (String step : steps) {
                    List<Ev> events = m.get(step);
                    if (events == null) continue;
                    for (Ev e : events) b.append(' ').append(step).append('=').append(e.ref());
                }
                return b.toString();
            });
        long start = System.nanoTime();
        int count = 0;
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(Paths.get(out), StandardCharsets.UTF_8));
             var it = matches.executeAndCollect()) {
            while (it.hasNext()) { w.println(it.next()); count++; }
        }
        System.err.printf("flink %s: %d matches in %.1f s%n", name, count, (System.nanoTime() - start) / 1e9);
    }
}
