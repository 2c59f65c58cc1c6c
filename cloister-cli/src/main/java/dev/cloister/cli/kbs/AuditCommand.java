package dev.cloister.cli.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.Json;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.AuditEntry;
import dev.cloister.kbs.AuditLogVerifier;
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
        header = "Check and read the audit log.",
        description = {"Every release, denial and change is an audit entry. The entries form a hash chain (MACs under "
                + "the master key: 'verify') and a transparency log (RFC 9162 Merkle tree with Ed25519-signed "
                + "checkpoints): owners and auditors check with 'checkpoint' and 'prove' that the log only grows "
                + "and holds the entries they were shown, with nothing but the broker's log key."},
        subcommands = {AuditCommand.Verify.class, AuditCommand.ListCmd.class, AuditCommand.KeyCmd.class,
            AuditCommand.CheckpointCmd.class, AuditCommand.Prove.class})
public final class AuditCommand {
    @Command(name = "verify", mixinStandardHelpOptions = true,
            header = "Check that no audit entry, and no stored row, was changed outside the broker.",
            description = "Checks the chain's MACs and links, every token, secret, policy, rules, proposal and approval "
                    + "row against its MAC, and revocations and retirements in the log against the rows. With --db, "
                    + "opens the database directly (needs the master key) and also checks the log against the "
                    + "anchor kept beside it (--log-anchor); otherwise asks the broker (admin or global auditor "
                    + "token). Exit 1 when anything is broken, naming each problem.")
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
                    problems = new java.util.ArrayList<>(r.problems());
                    // The anchor a broker keeps next to its database: a log cut short is invisible to the chain.
                    String anchor = store.checkLogAnchor(local.anchorFile());
                    if (anchor != null) {
                        problems.add("log anchor: " + anchor);
                    }
                    intact = problems.isEmpty();
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

    @Command(name = "key", mixinStandardHelpOptions = true, header = "Print the audit log's verifier key.",
            description = "With --db, reads it from the database (needs the master key): the way an operator gets "
                    + "the key to hand to owners and auditors. Otherwise asks the broker, which is only as good as "
                    + "the channel: pin a key on first use, then check with it.")
    static final class KeyCmd implements Callable<Integer> {
        @Mixin
        LocalOptions local;

        @Mixin
        ClientOptions client;

        @Option(names = "--json", description = "Print {key}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            String key;
            if (local.db != null) {
                try (KbsStore store = local.open(false)) {
                    key = store.logVerifierKey();
                }
            } else {
                key = client.client(true).auditLogKey();
            }
            if (json) {
                var o = Json.object();
                o.put("key", key);
                Json.print(spec.commandLine().getOut(), o);
            } else {
                spec.commandLine().getOut().println(key);
            }
            return 0;
        }
    }

    @Command(name = "checkpoint", mixinStandardHelpOptions = true,
            header = "Check the broker's signed checkpoint and that the log only grew since the last one.",
            description = {"Fetches the current checkpoint (log size and Merkle root, signed), verifies the signature "
                    + "with the pinned log key, and, when a checkpoint was kept from an earlier run, verifies the "
                    + "broker's consistency proof: no entry that the kept checkpoint covers was changed or removed. "
                    + "Then keeps the new one.",
                "Exit 0 when everything verifies, 1 when anything does not (the message says what), 3 for bad "
                    + "arguments."})
    static final class CheckpointCmd implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Mixin
        LogCheck log;

        @Option(names = "--json", description = "Print {origin, size, root, previousSize, state}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            LogCheck.Result r = log.check(client.client(true), client);
            if (json) {
                Json.print(spec.commandLine().getOut(), describe(r));
            } else {
                var out = spec.commandLine().getOut();
                out.println("audit log " + r.checkpoint().origin() + ": " + r.checkpoint().size() + " entries, root "
                        + java.util.HexFormat.of().formatHex(r.checkpoint().rootHash()) + " (signature verified)");
                if (r.previous() != null) {
                    out.println("extends the checkpoint of " + r.previous().size() + " entries kept in " + r.state());
                } else if (r.state() != null) {
                    out.println("first checkpoint for this log, kept in " + r.state());
                }
            }
            return 0;
        }
    }

    @Command(name = "prove", mixinStandardHelpOptions = true,
            header = "Check that audit entries are in the signed log.",
            description = {"Checks the checkpoint as 'checkpoint' does, then fetches each entry with its inclusion "
                    + "proof and verifies it against the checkpoint's root: the broker cannot later drop or rewrite "
                    + "these entries without failing the next check. Owners see (and prove) their namespace's "
                    + "entries; admins and global auditors all.",
                "Exit 0 when every entry verifies, 1 otherwise."})
    static final class Prove implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Mixin
        LogCheck log;

        @CommandLine.Parameters(paramLabel = "SEQ", arity = "0..*", description = "Entry sequence numbers.")
        List<Long> seqs = new java.util.ArrayList<>();

        @Option(names = "--all", description = "Every entry this token may see.")
        boolean all;

        @Option(names = "--json", description = "Print {checkpoint, entries: [...]}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            if (seqs.isEmpty() == !all) {
                throw new CommandLine.ParameterException(spec.commandLine(), "give entry numbers or --all (exactly one of the two)");
            }
            var c = client.client(true);
            LogCheck.Result r = log.check(c, client);
            AuditLogVerifier v = r.verifier();
            List<AuditEntry> proved = new java.util.ArrayList<>();
            if (all) {
                proved.addAll(LogCheck.proof(() -> v.proveVisible(c, r.checkpoint()), "the log"));
            }
            for (long seq : seqs) {
                proved.add(LogCheck.proof(() -> v.prove(c, r.checkpoint(), seq), "entry " + seq));
            }
            var out = spec.commandLine().getOut();
            var entries = Json.mapper().createArrayNode();
            for (AuditEntry e : proved) {
                if (json) {
                    entries.add(e.toJson());
                } else {
                    out.printf("entry %d is in the log of %d entries: %s %s %s/%s by %s at %s%n", e.seq(),
                            r.checkpoint().size(), e.action(), e.outcome(), e.namespace() == null ? "-"
                                    : e.namespace(), e.subject() == null ? "-" : e.subject(), e.actor(), e.at());
                }
            }
            if (json) {
                var o = Json.object();
                o.set("checkpoint", describe(r));
                o.set("entries", entries);
                Json.print(out, o);
            } else if (proved.isEmpty()) {
                out.println("no entries to prove (this token sees none up to entry " + r.checkpoint().size() + ")");
            }
            return 0;
        }
    }

    private static com.fasterxml.jackson.databind.node.ObjectNode describe(LogCheck.Result r) {
        var o = Json.object();
        o.put("origin", r.checkpoint().origin());
        o.put("size", r.checkpoint().size());
        o.put("root", java.util.HexFormat.of().formatHex(r.checkpoint().rootHash()));
        if (r.previous() != null) {
            o.put("previousSize", r.previous().size());
        } else {
            o.putNull("previousSize");
        }
        if (r.state() != null) {
            o.put("state", r.state().toString());
        } else {
            o.putNull("state");
        }
        return o;
    }
}
