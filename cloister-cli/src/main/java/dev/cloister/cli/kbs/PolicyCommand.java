package dev.cloister.cli.kbs;

import dev.cloister.attestation.Verdict;
import dev.cloister.attestation.policy.Policies;
import dev.cloister.cli.Json;
import dev.cloister.kbs.KbsException;
import dev.cloister.kbs.KeyBroker;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister kbs policy set|show|test|proposals|approve}. */
@Command(name = "policy", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Set, show and test the attestation policy of a secret.",
        description = {"Policies use the attestation library's language, compact or YAML, e.g.",
            "  E:<mrenclave hex> S:<mrsigner hex> PROD:1 SVN:3 TCB:UpToDate,SWHardeningNeeded",
            "Without a policy nothing is released. Simulated evidence needs SIM:ALLOW; debug enclaves DEBUG:ALLOW."},
        subcommands = {PolicyCommand.Set.class, PolicyCommand.Show.class, PolicyCommand.Test.class,
            PolicyCommand.Proposals.class, PolicyCommand.Approve.class})
public final class PolicyCommand {
    static final class Text {
        @Option(names = "--text", paramLabel = "POLICY", description = "The policy text.")
        String text;

        @Option(names = "--file", paramLabel = "FILE", description = "Read the policy from FILE (compact or YAML).")
        Path file;

        String read() throws java.io.IOException {
            return text != null ? text : Files.readString(file, StandardCharsets.UTF_8);
        }
    }

    @Command(name = "set", mixinStandardHelpOptions = true,
            header = "Set a secret's policy; prints the canonical form now enforced.",
            description = "In a namespace whose rules require several approvals ('kbs namespace rules'), the change "
                    + "waits as a proposal instead: this prints its id and who must still approve.")
    static final class Set implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Parameters(paramLabel = "NS/NAME", description = "Namespace and secret name.")
        String target;

        @ArgGroup(exclusive = true, multiplicity = "1")
        Text text;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Names n = Names.parse(target);
            printProposal(spec, client.client(true).proposePolicy(n.namespace(), n.name(), text.read()));
            return 0;
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true, header = "Print a secret's policy.")
    static final class Show implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Parameters(paramLabel = "NS/NAME", description = "Namespace and secret name.")
        String target;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Names n = Names.parse(target);
            spec.commandLine().getOut().println(client.client(true).policy(n.namespace(), n.name()));
            return 0;
        }
    }

    @Command(name = "test", mixinStandardHelpOptions = true,
            header = "Verify an evidence file and appraise it against a policy, explaining the verdict.",
            description = "Runs locally; no broker needed. Exit 0 when the policy accepts, 1 when it denies "
                    + "(every failed constraint is listed with the value seen), 3 when the evidence is malformed.")
    static final class Test implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        Text text;

        @Option(names = "--evidence", required = true, paramLabel = "FILE", description = "The quote (raw bytes).")
        Path evidence;

        @Option(names = "--collateral", paramLabel = "FILE", description = "QuoteCollateralV3 JSON.")
        Path collateral;

        @Option(names = "--at", paramLabel = "INSTANT",
                description = "Appraise at this time, ISO-8601 (default: now).")
        String at;

        @Option(names = "--allow-simulation", description = "Also trust Cloister's simulation root.")
        boolean allowSimulation;

        @Option(names = "--json", description = "Print {accepted, reasons}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Instant when;
            try {
                when = at == null ? Instant.now() : Instant.parse(at);
            } catch (DateTimeParseException e) {
                throw KbsException.badRequest("--at must be ISO-8601, e.g. 2026-11-27T12:00:00Z; got " + at);
            }
            Verdict v = KeyBroker.test(Verifiers.select(allowSimulation), Policies::parse, text.read(),
                    Files.readAllBytes(evidence), collateral == null ? null : Files.readAllBytes(collateral), when);
            if (json) {
                Json.print(spec.commandLine().getOut(), v);
            } else if (v.accepted()) {
                spec.commandLine().getOut().println("accepted");
            } else {
                spec.commandLine().getOut().println("denied:");
                v.reasons().forEach(r -> spec.commandLine().getOut().println("  " + r));
            }
            return v.accepted() ? 0 : 1;
        }
    }

    /** The policy now enforced, or the proposal that waits and what it needs. */
    static void printProposal(CommandLine.Model.CommandSpec spec, com.fasterxml.jackson.databind.JsonNode r) {
        var out = spec.commandLine().getOut();
        if ("applied".equals(r.path("state").asText())) {
            out.println(r.get("policy").asText());
        } else {
            out.println("proposal " + r.get("proposal").asText() + " for " + r.get("namespace").asText() + "/"
                    + r.get("secret").asText() + ": " + r.get("approvers").size() + " of " + r.get("required").asInt()
                    + " approvals; not in force yet");
            out.println("  proposed: " + r.get("policy").asText());
            out.println("  approve:  cloister kbs policy approve " + r.get("namespace").asText() + " "
                    + r.get("proposal").asText());
        }
    }

    @Command(name = "proposals", mixinStandardHelpOptions = true,
            header = "List the policy changes of a namespace that wait for approvals.")
    static final class Proposals implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Parameters(paramLabel = "NAMESPACE")
        String ns;

        @Option(names = "--json", description = "Print {\"proposals\": [{proposal, secret, policy, approvers, required}]}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            var list = client.client(true).proposals(ns);
            if (json) {
                var o = Json.object();
                o.set("proposals", list);
                Json.print(spec.commandLine().getOut(), o);
            } else {
                for (var r : list) {
                    spec.commandLine().getOut().printf("%s  %s/%s  %d of %d  %s%n", r.get("proposal").asText(), ns,
                            r.get("secret").asText(), r.get("approvers").size(), r.get("required").asInt(),
                            r.get("policy").asText());
                }
            }
            return 0;
        }
    }

    @Command(name = "approve", mixinStandardHelpOptions = true,
            header = "Approve a waiting policy change with this token.",
            description = "The change takes effect with the approval that reaches the namespace's requirement; the "
                    + "audit log names every approver. A token approves a proposal once.")
    static final class Approve implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Parameters(index = "0", paramLabel = "NAMESPACE")
        String ns;

        @Parameters(index = "1", paramLabel = "PROPOSAL")
        String proposal;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            printProposal(spec, client.client(true).approvePolicy(ns, proposal));
            return 0;
        }
    }
}
