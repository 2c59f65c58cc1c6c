package dev.cloister.cli.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.Json;
import dev.cloister.core.AtomicFiles;
import dev.cloister.kbs.Role;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister kbs token create|list|revoke}. */
@Command(name = "token", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Issue, list and revoke bearer tokens (admin).",
        description = "Roles: admin (everything), owner (secrets and policies of one namespace), auditor "
                + "(read-only: audit log and secret metadata, of one namespace or of all). The broker stores only "
                + "a SHA-256 hash of each token.",
        subcommands = {TokenCommand.Create.class, TokenCommand.ListCmd.class, TokenCommand.Revoke.class})
public final class TokenCommand {
    @Command(name = "create", mixinStandardHelpOptions = true, header = "Issue a token; it is written to --out only.")
    static final class Create implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Option(names = "--role", required = true, paramLabel = "ROLE", description = "admin, owner or auditor.")
        String role;

        @Option(names = "--namespace", paramLabel = "NS", description = "The namespace (required for owner).")
        String ns;

        @Option(names = "--out", required = true, paramLabel = "FILE",
                description = "Write the token here (mode 600); it is never printed.")
        Path out;

        @Option(names = "--force", description = "Overwrite --out if it exists.")
        boolean force;

        @Option(names = "--ttl", paramLabel = "DURATION", defaultValue = "90d",
                description = "How long the token is valid: a number with s, m, h or d (default: ${DEFAULT-VALUE}; "
                        + "at most 3650d). Expired tokens are refused like revoked ones.")
        String ttl;

        @Option(names = "--json", description = "Print {id, role, namespace, file}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            java.time.Duration lifetime = parseTtl(ttl);
            JsonNode t = client.client(true).createToken(Role.parse(role), ns, lifetime);
            AtomicFiles.writeBytes(out, force, (t.get("token").asText() + "\n").getBytes(StandardCharsets.US_ASCII));
            if (json) {
                var o = Json.object();
                o.put("id", t.get("id").asText());
                o.put("role", t.get("role").asText());
                o.set("namespace", t.get("namespace"));
                o.set("expires", t.get("expires"));
                o.put("file", out.toString());
                Json.print(spec.commandLine().getOut(), o);
            } else {
                spec.commandLine().getOut().println("token " + t.get("id").asText() + " (" + role + ", expires "
                        + t.path("expires").asText("never") + ") written to " + out);
            }
            return 0;
        }
    }

    /** Parses {@code 90d}, {@code 12h}, {@code 30m} or {@code 45s}. */
    static java.time.Duration parseTtl(String s) throws dev.cloister.core.CloisterException {
        var m = java.util.regex.Pattern.compile("([1-9][0-9]{0,9})([smhd])").matcher(s == null ? "" : s);
        if (!m.matches()) {
            throw new dev.cloister.core.CloisterException(dev.cloister.core.CloisterException.Kind.BAD_INPUT,
                    "bad duration '" + s + "' (a positive number with s, m, h or d, e.g. 90d)");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "s" -> java.time.Duration.ofSeconds(n);
            case "m" -> java.time.Duration.ofMinutes(n);
            case "h" -> java.time.Duration.ofHours(n);
            default -> java.time.Duration.ofDays(n);
        };
    }

    @Command(name = "list", mixinStandardHelpOptions = true, header = "List tokens (ids and roles, never values).")
    static final class ListCmd implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Option(names = "--json", description = "Print {\"tokens\": [...]}.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            JsonNode r = client.client(true).tokens();
            if (json) {
                Json.print(spec.commandLine().getOut(), r);
            } else {
                for (JsonNode t : r.get("tokens")) {
                    spec.commandLine().getOut().printf("%s  %-8s %-20s %-8s expires %s%n", t.get("id").asText(),
                            t.get("role").asText(), t.get("namespace").isNull() ? "-" : t.get("namespace").asText(),
                            t.get("revoked").asBoolean() ? "revoked" : t.path("expired").asBoolean() ? "expired"
                                    : "active", t.path("expires").isNull() ? "never" : t.path("expires").asText("never"));
                }
            }
            return 0;
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true, header = "Revoke a token by id.")
    static final class Revoke implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Parameters(paramLabel = "ID", description = "The token id (from 'token list').")
        String id;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            client.client(true).revokeToken(id);
            spec.commandLine().getOut().println("revoked token " + id);
            return 0;
        }
    }
}
