package dev.cloister.cli.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.Json;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.KbsException;
import dev.cloister.kbs.SecretKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister kbs secret put|generate|rotate|list|retire}. */
@Command(name = "secret", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Store, generate, rotate, list and retire secrets (owner or admin token).",
        description = "Kinds: pf-key (16-byte Gramine encrypted-files key), aes256 (32 bytes), ec-p256 (PKCS#8 DER "
                + "private key), opaque (uploaded bytes, up to 64 KiB). Rotating adds a version; older versions "
                + "stay releasable by number until retired.",
        subcommands = {SecretCommand.Put.class, SecretCommand.Generate.class, SecretCommand.Rotate.class,
            SecretCommand.ListCmd.class, SecretCommand.Retire.class})
public final class SecretCommand {
    abstract static class Base implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Option(names = "--json", description = "Print the stored version's metadata as JSON.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        void print(JsonNode info) {
            if (json) {
                Json.print(spec.commandLine().getOut(), info);
            } else {
                spec.commandLine().getOut().println(info.get("namespace").asText() + "/" + info.get("name").asText()
                        + " version " + info.get("version").asInt() + " (" + info.get("kind").asText() + ")");
            }
        }
    }

    @Command(name = "put", mixinStandardHelpOptions = true, header = "Upload a new secret from a file.")
    static final class Put extends Base {
        @Parameters(paramLabel = "NS/NAME", description = "Namespace and secret name.")
        String target;

        @Option(names = "--kind", required = true, paramLabel = "KIND", description = "pf-key, aes256, ec-p256 or opaque.")
        String kind;

        @Option(names = "--value-file", required = true, paramLabel = "FILE", description = "The raw secret bytes.")
        Path valueFile;

        @Override
        public Integer call() throws Exception {
            Names n = Names.parse(target);
            print(client.client(true).storeSecret(n.namespace(), n.name(), SecretKind.parse(kind),
                    Files.readAllBytes(valueFile), false));
            return 0;
        }
    }

    @Command(name = "generate", mixinStandardHelpOptions = true, header = "Have the broker generate a new secret.")
    static final class Generate extends Base {
        @Parameters(paramLabel = "NS/NAME", description = "Namespace and secret name.")
        String target;

        @Option(names = "--kind", required = true, paramLabel = "KIND", description = "pf-key, aes256 or ec-p256.")
        String kind;

        @Override
        public Integer call() throws Exception {
            Names n = Names.parse(target);
            print(client.client(true).storeSecret(n.namespace(), n.name(), SecretKind.parse(kind), null, false));
            return 0;
        }
    }

    @Command(name = "rotate", mixinStandardHelpOptions = true,
            header = "Add a version: generated, or from --value-file.")
    static final class Rotate extends Base {
        @Parameters(paramLabel = "NS/NAME", description = "Namespace and secret name.")
        String target;

        @Option(names = "--value-file", paramLabel = "FILE", description = "The new value (default: generate one).")
        Path valueFile;

        @Override
        public Integer call() throws Exception {
            Names n = Names.parse(target);
            KbsClient c = client.client(true);
            String kind = null;
            for (JsonNode s : c.list(n.namespace()).get("secrets")) {
                if (s.get("name").asText().equals(n.name())) {
                    kind = s.get("kind").asText();
                }
            }
            if (kind == null) {
                throw KbsException.notFound("no secret " + target);
            }
            print(c.storeSecret(n.namespace(), n.name(), SecretKind.parse(kind),
                    valueFile == null ? null : Files.readAllBytes(valueFile), true));
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, header = "List the secrets of a namespace (metadata only).")
    static final class ListCmd extends Base {
        @Parameters(paramLabel = "NS", description = "The namespace.")
        String ns;

        @Override
        public Integer call() throws Exception {
            JsonNode r = client.client(true).list(ns);
            if (json) {
                Json.print(spec.commandLine().getOut(), r);
            } else {
                for (JsonNode s : r.get("secrets")) {
                    spec.commandLine().getOut().printf("%s/%s  v%d  %-8s %-8s %s%n", s.get("namespace").asText(),
                            s.get("name").asText(), s.get("version").asInt(), s.get("kind").asText(),
                            s.get("active").asBoolean() ? "active" : "retired", s.get("created").asText());
                }
            }
            return 0;
        }
    }

    @Command(name = "retire", mixinStandardHelpOptions = true, header = "Retire one version: it is never released again.")
    static final class Retire extends Base {
        @Parameters(index = "0", paramLabel = "NS/NAME", description = "Namespace and secret name.")
        String target;

        @Parameters(index = "1", paramLabel = "VERSION", description = "The version to retire.")
        int version;

        @Override
        public Integer call() throws Exception {
            Names n = Names.parse(target);
            client.client(true).retire(n.namespace(), n.name(), version);
            spec.commandLine().getOut().println("retired " + target + " version " + version);
            return 0;
        }
    }
}
