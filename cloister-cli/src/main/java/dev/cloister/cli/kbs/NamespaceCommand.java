package dev.cloister.cli.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.Json;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister kbs namespace create|list|rules}. */
@Command(name = "namespace", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Create and list namespaces (one per data owner; admin token needed to create).",
        subcommands = {NamespaceCommand.Create.class, NamespaceCommand.ListCmd.class, NamespaceCommand.Rules.class})
public final class NamespaceCommand {
    @Command(name = "create", mixinStandardHelpOptions = true, header = "Create a namespace (admin).")
    static final class Create implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Parameters(paramLabel = "NAMESPACE", description = "Lower-case letters, digits, . _ -; at most 64.")
        String ns;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            client.client(true).createNamespace(ns);
            spec.commandLine().getOut().println("created namespace " + ns);
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, header = "List the namespaces this token can see.")
    static final class ListCmd implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Option(names = "--json", description = "Print {\"namespaces\": [...]}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            JsonNode r = client.client(true).call("GET", "/v1/namespaces", null);
            if (json) {
                Json.print(spec.commandLine().getOut(), r);
            } else {
                r.get("namespaces").forEach(n -> spec.commandLine().getOut().println(n.asText()));
            }
            return 0;
        }
    }

    @Command(name = "rules", mixinStandardHelpOptions = true,
            header = "Require several approvals for policy changes in a namespace (admin).",
            description = {"With --policy-approvals K (1 to 16), a policy change in the namespace waits as a proposal "
                    + "until K distinct tokens of the namespace (or admins) approved it, the proposer's included "
                    + "('kbs policy approve'); approvals of tokens revoked since do not count. 1 (the default) applies "
                    + "changes at once. Give each approver their own token."})
    static final class Rules implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Parameters(paramLabel = "NAMESPACE")
        String ns;

        @Option(names = "--policy-approvals", paramLabel = "K", required = true,
                description = "Approvals a policy change needs, 1..16.")
        int approvals;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            client.client(true).setPolicyApprovals(ns, approvals);
            spec.commandLine().getOut().println("namespace " + ns + ": policy changes need " + approvals
                    + (approvals == 1 ? " approval (applied at once)" : " approvals"));
            return 0;
        }
    }
}
