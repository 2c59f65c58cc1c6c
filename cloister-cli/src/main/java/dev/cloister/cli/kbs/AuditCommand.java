package dev.cloister.cli.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.Json;
import dev.cloister.kbs.AuditReport;
import dev.cloister.kbs.KbsStore;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code cloister kbs audit verify|list}. */
@Command(name = "audit", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Check and read the hash-chained audit log.",
        subcommands = {AuditCommand.Verify.class, AuditCommand.ListCmd.class})
public final class AuditCommand {
    @Command(name = "verify", mixinStandardHelpOptions = true,
            header = "Check that no audit entry was edited, removed or reordered.",
            description = "With --db, opens the database directly (needs the master key, which unwraps the chain's "
                    + "MAC key); otherwise asks the broker (admin or global auditor token). Exit 1 when broken.")
    static final class Verify implements Callable<Integer> {
        @Mixin
        LocalOptions local;

        @Mixin
        ClientOptions client;

        @Option(names = "--json", description = "Print {entries, intact, problems}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            long entries;
            boolean intact;
            List<String> problems;
            if (local.db != null) {
                try (KbsStore store = local.open(false)) {
                    AuditReport r = store.verifyAudit();
                    entries = r.entries();
                    intact = r.intact();
                    problems = r.problems();
                }
            } else {
                JsonNode r = client.client(true).verifyAudit();
                entries = r.get("entries").asLong();
                intact = r.get("intact").asBoolean();
                problems = new java.util.ArrayList<>();
                r.get("problems").forEach(p -> problems.add(p.asText()));
            }
            if (json) {
                var o = Json.object();
                o.put("entries", entries);
                o.put("intact", intact);
                o.set("problems", Json.mapper().valueToTree(problems));
                Json.print(spec.commandLine().getOut(), o);
            } else if (intact) {
                spec.commandLine().getOut().println("audit chain intact: " + entries + " entries");
            } else {
                spec.commandLine().getOut().println("audit chain BROKEN (" + entries + " entries):");
                problems.forEach(p -> spec.commandLine().getOut().println("  " + p));
            }
            return intact ? 0 : 1;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, header = "Print audit entries (as the token may see).")
    static final class ListCmd implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Option(names = "--after", paramLabel = "SEQ", defaultValue = "0", description = "Start after this entry.")
        long after;

        @Option(names = "--limit", paramLabel = "N", defaultValue = "100", description = "At most N (max 1000).")
        int limit;

        @Option(names = "--json", description = "Print {\"entries\": [...]}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            List<JsonNode> entries = client.client(true).audit(after, limit);
            if (json) {
                var o = Json.object();
                o.set("entries", Json.mapper().valueToTree(entries));
                Json.print(spec.commandLine().getOut(), o);
            } else {
                for (JsonNode e : entries) {
                    spec.commandLine().getOut().printf("%6d %s %-16s %-8s %s/%s by %s%s%n", e.get("seq").asLong(),
                            e.get("at").asText(), e.get("action").asText(), e.get("outcome").asText(),
                            e.get("namespace").asText("-"), e.get("subject").asText("-"), e.get("actor").asText(),
                            e.get("detail").asText().isEmpty() ? "" : ": " + e.get("detail").asText());
                }
            }
            return 0;
        }
    }
}
