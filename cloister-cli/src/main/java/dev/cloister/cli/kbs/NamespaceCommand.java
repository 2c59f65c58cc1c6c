package dev.cloister.cli.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.Json;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister kbs namespace create|list}. */
@Command(name = "namespace", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Create and list namespaces (one per data owner; admin token needed to create).",
        subcommands = {NamespaceCommand.Create.class, NamespaceCommand.ListCmd.class})
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
}
