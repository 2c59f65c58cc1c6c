package dev.cloister.runtime.gramine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.bundle.BundleFile;
import dev.cloister.bundle.BundleSpec;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job's final Gramine manifest, read back with an independent TOML parser (Jackson's), field by field, and the
 * working folder and commands a worker prepares for Gramine.
 */
class GramineLaunchTest {
    @TempDir
    Path tmp;

    private Bundle bundle;
    private String caPem;

    private static final List<String> ARGS = List.of("-e", "s/a/b/", "/inputs/data/a.csv");

    @BeforeEach
    void build() throws Exception {
        caPem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
        Path ca = Files.writeString(tmp.resolve("broker.pem"), caPem);
        bundle = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin/sed"))
                .withArgs(List.of("--posix")).withEnv(Map.of("LC_ALL", "C"))
                .withBroker(Optional.of(ca), Optional.empty()), tmp.resolve("bundle"), false).dir());
    }

    private JobRecord record(String backend, List<String> args, Map<String, String> env) {
        return new JobRecord("j-1", "j", bundle.dir().toString(), bundle.measurement(), "E:ab", "ns/job-j-1",
                "https://b", backend, args, env,
                List.of(new JobRecord.Input("a", "/inputs/data/a.csv", "00", 1)),
                List.of(new JobSpec.Output("o", "/outputs/o.txt"), new JobSpec.Output("p", "/outputs/sub/p.bin")));
    }

    @Test
    void theGramineDirectManifestIsTheBundlesPlusTheLauncherAndNothingInsecure() throws Exception {
        String launcherSha = "11".repeat(32);
        String manifestSha = "22".repeat(32);
        String recordSha = "33".repeat(32);
        byte[] manifest = GramineManifest.renderDirect(bundle.spec(), ARGS, Map.of("MODE", "fast"),
                "/opt/gramine/lib/x86_64-linux-gnu/gramine/libsysdb.so", launcherSha, manifestSha, recordSha,
                Map.of("/inputs/data/a.csv", "cloister-1", "/outputs/o.txt", "cloister-2"));
        String text = new String(manifest, java.nio.charset.StandardCharsets.UTF_8);
        assertThat(text).doesNotContain("insecure").doesNotContain("SECRET_PROVISION").doesNotContain("LD_PRELOAD")
                .doesNotContain(BundleSpec.SECRET_PROV_LIB);
        JsonNode m = new TomlMapper().readTree(manifest);
        assertThat(m.at("/libos/entrypoint").asText()).isEqualTo("/cloister/launcher");
        List<String> argv = new ArrayList<>();
        m.at("/loader/argv").forEach(a -> argv.add(a.asText()));
        List<String> expected = new ArrayList<>(List.of("/cloister/launcher", "/usr/bin/sed"));
        expected.addAll(bundle.spec().argv());
        expected.addAll(ARGS);
        assertThat(argv).isEqualTo(expected);
        assertThat(m.at("/loader/entrypoint/uri").asText()).isEqualTo("file:/opt/gramine/lib/x86_64-linux-gnu/gramine/libsysdb.so");
        assertThat(m.at("/loader/log_level").asText()).isEqualTo("warning");
        assertThat(m.at("/loader/env/MODE").asText()).isEqualTo("fast");
        assertThat(m.at("/loader/env/LC_ALL").asText()).isEqualTo("C");
        Map<String, String> mounts = new java.util.TreeMap<>();
        m.at("/fs/mounts").forEach(x -> mounts.put(x.path("path").asText(), x.path("type").asText() + " "
                + x.path("uri").asText() + " " + x.path("key_name").asText()));
        assertThat(mounts).containsOnly(
                Map.entry("/tmp", "tmpfs  "),
                Map.entry("/inputs", "encrypted file:inputs default"),
                Map.entry("/outputs", "encrypted file:outputs default"),
                Map.entry("/cloister", "chroot file:cloister "),
                Map.entry("/inputs/data/a.csv", "encrypted file:inputs/data/a.csv cloister-1"),
                Map.entry("/outputs/o.txt", "encrypted file:outputs/o.txt cloister-2"));
        Map<String, String> trusted = new java.util.TreeMap<>();
        m.at("/sgx/trusted_files").forEach(t -> {
            assertThat(t.isObject()).as("gramine-direct reads trusted files as tables: " + t).isTrue();
            trusted.put(t.path("uri").asText(), t.path("sha256").asText());
        });
        for (BundleFile f : bundle.files()) {
            assertThat(trusted).containsEntry("file:root" + f.path(), f.sha256());
        }
        assertThat(trusted).containsEntry("file:cloister/launcher", launcherSha)
                .containsEntry("file:cloister/bundle.manifest", manifestSha)
                .containsEntry("file:cloister/job.json", recordSha)
                .hasSize(bundle.files().size() + 3);
    }

    @Test
    void theFinalManifestCarriesTheJobsArgumentsMountsAndKeyProvisioning() throws Exception {
        byte[] manifest = GramineManifest.render(bundle.spec(), ARGS, Map.of("MODE", "fast"));
        JsonNode m = new TomlMapper().readTree(manifest);

        assertThat(m.at("/libos/entrypoint").asText()).isEqualTo("/usr/bin/sed");
        List<String> argv = new ArrayList<>();
        m.at("/loader/argv").forEach(a -> argv.add(a.asText()));
        assertThat(argv).containsExactly("/usr/bin/sed", "--posix", "-e", "s/a/b/", "/inputs/data/a.csv");
        // The host's command line is never used: the arguments are only those measured above.
        assertThat(m.at("/loader/insecure__use_cmdline_argv").isMissingNode()).isTrue();
        assertThat(m.at("/loader/argv_src_file").isMissingNode()).isTrue();

        JsonNode env = m.at("/loader/env");
        assertThat(env.path("MODE").asText()).isEqualTo("fast");
        assertThat(env.path("LC_ALL").asText()).isEqualTo("C");
        assertThat(env.path("LD_PRELOAD").asText()).isEqualTo(BundleSpec.RUNTIME_MOUNT + "/libsecret_prov_attest.so");
        assertThat(env.path("SECRET_PROVISION_CONSTRUCTOR").asText()).isEqualTo("1");
        assertThat(env.path("SECRET_PROVISION_SET_KEY").asText()).isEqualTo(BundleSpec.KEY_NAME);
        assertThat(env.path("SECRET_PROVISION_CA_CHAIN_PATH").asText()).isEqualTo(BundleSpec.BROKER_CA);
        assertThat(env.path("SECRET_PROVISION_SERVERS").path("passthrough").asBoolean()).isTrue();

        assertThat(m.at("/fs/root/type").asText()).isEqualTo("chroot");
        assertThat(m.at("/fs/root/uri").asText()).isEqualTo("file:root");
        List<JsonNode> encrypted = new ArrayList<>();
        m.at("/fs/mounts").forEach(x -> {
            if (x.path("type").asText().equals("encrypted")) {
                encrypted.add(x);
            }
        });
        assertThat(encrypted).hasSize(2);
        assertThat(encrypted).anySatisfy(x -> {
            assertThat(x.path("path").asText()).isEqualTo("/inputs");
            assertThat(x.path("uri").asText()).isEqualTo("file:inputs");
            assertThat(x.path("key_name").asText()).isEqualTo(BundleSpec.KEY_NAME);
        });
        assertThat(encrypted).anySatisfy(x -> {
            assertThat(x.path("path").asText()).isEqualTo("/outputs");
            assertThat(x.path("uri").asText()).isEqualTo("file:outputs");
            assertThat(x.path("key_name").asText()).isEqualTo(BundleSpec.KEY_NAME);
        });
        assertThat(m.at("/fs/mounts").findValuesAsText("path")).contains(BundleSpec.RUNTIME_MOUNT, "/tmp");
        assertThat(m.at("/fs/insecure__keys").isMissingNode()).isTrue();

        assertThat(m.at("/sgx/debug").asBoolean(true)).isFalse();
        assertThat(m.at("/sgx/remote_attestation").asText()).isEqualTo("dcap");
        assertThat(m.at("/sgx/file_check_policy").asText()).isEqualTo("strict");
        // Every bundle file is trusted with its hash, the broker's CA among them, so the CA is measured.
        String caSha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(caPem.getBytes()));
        JsonNode trusted = m.at("/sgx/trusted_files");
        for (BundleFile f : bundle.files()) {
            assertThat(trusted).anySatisfy(t -> {
                assertThat(t.path("uri").asText()).isEqualTo("file:root" + f.path());
                assertThat(t.path("sha256").asText()).isEqualTo(f.sha256());
            });
        }
        assertThat(trusted).anySatisfy(t -> {
            assertThat(t.path("uri").asText()).isEqualTo("file:root" + BundleSpec.BROKER_CA);
            assertThat(t.path("sha256").asText()).isEqualTo(caSha);
        });
        assertThat(trusted).anySatisfy(t -> assertThat(t.asText()).endsWith("/libsecret_prov_attest.so"));
    }

    @Test
    void theManifestIsAFunctionOfBundleArgumentsAndEnvironmentAlone() throws Exception {
        byte[] a = GramineManifest.render(bundle.spec(), ARGS, Map.of());
        assertThat(GramineManifest.render(bundle.spec(), List.copyOf(ARGS), Map.of())).isEqualTo(a);
        // Other arguments or environment: another manifest, hence another MRENCLAVE the owner's policy must name.
        assertThat(GramineManifest.render(bundle.spec(), List.of("-e", "s/a/c/", "/inputs/data/a.csv"), Map.of()))
                .isNotEqualTo(a);
        assertThat(GramineManifest.render(bundle.spec(), ARGS, Map.of("X", "1"))).isNotEqualTo(a);
        // Without arguments the job manifest is the bundle's own (inputs and outputs already at the job mounts).
        assertThat(GramineManifest.render(bundle.spec(), List.of(), Map.of())).isEqualTo(bundle.manifest());
    }

    /**
     * Job arguments and environment come from the owner's job file and end up inside TOML strings: whatever they
     * hold (quotes, backslashes, newlines, control characters, non-ASCII), they must read back exactly and must not
     * add or change any other manifest key. Seeded, so a failure reproduces.
     */
    @Test
    void arbitraryArgumentsAndEnvironmentReadBackExactlyAndInjectNothing() throws Exception {
        java.util.Random rnd = new java.util.Random(20261127);
        String alphabet = "aZ09 _-./=\"'\\\n\r\t\b\f\u0001\u001f\u007f#[]{},\u00e9\u4e2d\ud83d\ude00";
        TomlMapper toml = new TomlMapper();
        JsonNode plain = toml.readTree(GramineManifest.render(bundle.spec(), List.of(), Map.of()));
        for (int round = 0; round < 300; round++) {
            List<String> args = new ArrayList<>();
            for (int i = rnd.nextInt(4); i >= 0; i--) {
                args.add(randomString(rnd, alphabet));
            }
            if (round == 0) {
                args.add("\"\nsgx.debug = true\nx = \""); // the obvious injection attempt
            }
            String value = randomString(rnd, alphabet);
            JsonNode m = toml.readTree(GramineManifest.render(bundle.spec(), args, Map.of("V", value)));
            List<String> argv = new ArrayList<>();
            m.at("/loader/argv").forEach(a -> argv.add(a.asText()));
            assertThat(argv.subList(2, argv.size())).as("round %d", round).isEqualTo(args);
            assertThat(m.at("/loader/env/V").asText()).as("round %d", round).isEqualTo(value);
            // Everything else is the bundle's manifest, untouched.
            assertThat(m.at("/sgx")).isEqualTo(plain.at("/sgx"));
            assertThat(m.at("/fs")).isEqualTo(plain.at("/fs"));
            assertThat(m.at("/libos")).isEqualTo(plain.at("/libos"));
            List<String> top = new ArrayList<>();
            m.fieldNames().forEachRemaining(top::add);
            List<String> plainTop = new ArrayList<>();
            plain.fieldNames().forEachRemaining(plainTop::add);
            assertThat(top).isEqualTo(plainTop);
        }
    }

    private static String randomString(java.util.Random rnd, String alphabet) {
        int[] cps = alphabet.codePoints().toArray();
        StringBuilder sb = new StringBuilder();
        for (int i = rnd.nextInt(12); i > 0; i--) {
            sb.appendCodePoint(cps[rnd.nextInt(cps.length)]);
        }
        return sb.toString();
    }

    @Test
    void aBundleThatCannotObtainTheKeyOrAnEnvThatRedirectsProvisioningIsRefused() throws Exception {
        Bundle plain = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin/sed")), tmp.resolve("plain"),
                false).dir());
        assertThatThrownBy(() -> GramineManifest.render(plain.spec(), ARGS, Map.of()))
                .isInstanceOf(CloisterException.class).hasMessageContaining("--broker-ca")
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT));
        assertThatThrownBy(() -> GramineManifest.render(bundle.spec(), List.of("a\0b"), Map.of()))
                .isInstanceOf(CloisterException.class).hasMessageContaining("args[0] contains a NUL");
        assertThatThrownBy(() -> GramineManifest.render(bundle.spec(), List.of(), Map.of("X", "a\0b")))
                .isInstanceOf(CloisterException.class).hasMessageContaining("env X contains a NUL");
        for (String name : List.of("LD_PRELOAD", "SECRET_PROVISION_SERVERS", "SECRET_PROVISION_CA_CHAIN_PATH")) {
            assertThatThrownBy(() -> GramineManifest.render(bundle.spec(), ARGS, Map.of(name, "/evil")))
                    .isInstanceOf(CloisterException.class).hasMessageContaining(name);
        }
    }

    @Test
    void aMissingGramineIsAnEnvironmentErrorNamingTheCommand() throws Exception {
        assertThatThrownBy(() -> GramineLaunch.requireInstalled("gramine-sgx", "/nowhere"))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("'gramine-sgx-sign' is not on PATH")
                .satisfies(e -> assertThat(((CloisterException) e).kind().exitCode()).isEqualTo(4));
        // gramine-direct: the command that builds it here.
        assertThatThrownBy(() -> GramineLaunch.requireInstalled("gramine-direct", "/nowhere"))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("'gramine-direct' is not on PATH")
                .hasMessageContaining("export PATH=\"$(scripts/gramine-local)/bin:$PATH\"")
                .satisfies(e -> assertThat(((CloisterException) e).kind().exitCode()).isEqualTo(4));
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path fake = Files.writeString(bin.resolve("gramine-direct"), "#!/bin/sh\n");
        fake.toFile().setExecutable(true);
        assertThat(GramineLaunch.requireInstalled("gramine-direct", "/nowhere:" + bin))
                .containsExactly(Map.entry("gramine-direct", fake));
        // gramine-sgx needs its signer too.
        Path sgx = Files.writeString(bin.resolve("gramine-sgx"), "#!/bin/sh\n");
        sgx.toFile().setExecutable(true);
        assertThatThrownBy(() -> GramineLaunch.requireInstalled("gramine-sgx", bin.toString()))
                .hasMessageContaining("'gramine-sgx-sign' is not on PATH");
        assertThatThrownBy(() -> GramineLaunch.requireInstalled("sim", bin.toString()))
                .hasMessageContaining("not a Gramine backend");
    }

    @Test
    void theWorkingFolderHoldsWhatTheManifestsMountsExpectAndTheCommandsAreExact() throws Exception {
        Path ct = Files.write(tmp.resolve("a.pf"), new byte[4096]);
        Path work = tmp.resolve("work");
        // Leftovers of an interrupted run: a half-written output and a stale signed manifest.
        Files.createDirectories(work.resolve("outputs/sub"));
        Files.writeString(work.resolve("outputs/sub/p.bin"), "half");
        Files.writeString(work.resolve("entrypoint.manifest.sgx"), "stale");
        JobRecord rec = record("gramine-sgx", ARGS, Map.of());
        GramineLaunch l = GramineLaunch.prepare("gramine-sgx", rec, bundle, Map.of("a", ct), "kbs.example:4433",
                tmp.resolve("signer.pem"), work);
        assertThat(l.commands()).containsExactly(
                List.of("gramine-sgx-sign", "--manifest", "entrypoint.manifest", "--output", "entrypoint.manifest.sgx",
                        "--key", tmp.resolve("signer.pem").toString()),
                List.of("gramine-sgx", "entrypoint"));
        assertThat(l.env()).containsExactly(Map.entry("SECRET_PROVISION_SERVERS", "kbs.example:4433"));
        assertThat(work.resolve("inputs/data/a.csv")).hasSameBinaryContentAs(ct);
        assertThat(Files.readAllBytes(work.resolve("entrypoint.manifest")))
                .isEqualTo(GramineManifest.render(bundle.spec(), ARGS, Map.of()));
        assertThat(Files.readSymbolicLink(work.resolve("root"))).isEqualTo(bundle.dir().resolve("root").toAbsolutePath());
        assertThat(work.resolve("outputs")).isEmptyDirectory();
        assertThat(work.resolve("entrypoint.manifest.sgx")).doesNotExist();
        assertThat(l.output("/outputs/sub/p.bin")).isEqualTo(work.resolve("outputs/sub/p.bin"));
        assertThatThrownBy(() -> l.output("/outputs/../inputs/data/a.csv")).isInstanceOf(CloisterException.class);

        GramineLaunch direct = GramineLaunch.prepare("gramine-direct", record("gramine-direct", ARGS, Map.of()), bundle,
                Map.of("a", ct), "kbs:1", null, tmp.resolve("w2"));
        assertThat(direct.commands()).containsExactly(List.of("gramine-direct", "entrypoint"));
        // Without a key, gramine-sgx-sign uses Gramine's default one.
        GramineLaunch noKey = GramineLaunch.prepare("gramine-sgx", rec, bundle, Map.of("a", ct), "kbs:1", null,
                tmp.resolve("w3"));
        assertThat(noKey.commands().getFirst()).containsExactly("gramine-sgx-sign", "--manifest",
                "entrypoint.manifest", "--output", "entrypoint.manifest.sgx");
        // No broker address from anywhere: a clear error naming the option.
        assertThatThrownBy(() -> GramineLaunch.prepare("gramine-sgx", rec, bundle, Map.of("a", ct), null, null,
                tmp.resolve("w4"))).hasMessageContaining("--secret-provisioning");
    }

    @Test
    void aBrokerAddressFixedInTheBundleWinsOverTheWorkers() throws Exception {
        Path ca = tmp.resolve("broker.pem");
        Bundle fixed = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin/sed"))
                .withBroker(Optional.of(ca), Optional.of("kbs.owner.example:4433")), tmp.resolve("fixed"), false).dir());
        GramineLaunch l = GramineLaunch.prepare("gramine-direct", record("gramine-direct", ARGS, Map.of()), fixed,
                Map.of("a", Files.write(tmp.resolve("a.pf"), new byte[10])), "worker.example:1", null, tmp.resolve("w"));
        assertThat(l.env()).containsEntry("SECRET_PROVISION_SERVERS", "kbs.owner.example:4433");
        JsonNode m = new TomlMapper().readTree(Files.readAllBytes(tmp.resolve("w/entrypoint.manifest")));
        assertThat(m.at("/loader/env/SECRET_PROVISION_SERVERS").asText()).isEqualTo("kbs.owner.example:4433");
    }
}
