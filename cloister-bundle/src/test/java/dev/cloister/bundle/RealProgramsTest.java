package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bundles real programs of this machine and runs them with only the bundle's files visible (bubblewrap): every
 * library ldd reports must be in the manifest, and the program must work.
 */
class RealProgramsTest {
    @TempDir
    Path tmp;

    @Test
    void sqlite3RunsFromItsBundleAndListsEveryLibraryLddReports() throws Exception {
        BuildOptions o = BuildOptions.binary(Path.of("/usr/bin/sqlite3")).withArgs(List.of(":memory:",
                "create table t(x); insert into t values (6),(7); select x*(select x from t where x=7) from t "
                        + "where x=6;"));
        BundleBuilder.Result r = BundleBuilder.build(o, tmp.resolve("sq"), false);
        Bundle b = Bundle.open(r.dir());
        assertThat(Sandbox.paths(b)).containsAll(Sandbox.ldd("/usr/bin/sqlite3")).contains("/usr/bin/sqlite3");
        b.verify();
        Sandbox.Run run = Sandbox.runBundle(b);
        assertThat(run.exit()).as(run.err()).isZero();
        assertThat(run.out().strip()).isEqualTo("42");
    }

    @Test
    void cProgramCompiledHereWithOriginRunpathLibrary() throws Exception {
        Path app = tmp.resolve("app");
        Files.createDirectories(app.resolve("bin"));
        Files.createDirectories(app.resolve("lib"));
        Path src = tmp.resolve("src");
        Files.createDirectories(src);
        Files.writeString(src.resolve("greet.c"), """
                #include <math.h>
                double greet_root(double x) { return sqrt(x); }
                """);
        Files.writeString(src.resolve("main.c"), """
                #include <stdio.h>
                double greet_root(double x);
                int main(int argc, char **argv) {
                    printf("root of %s is %.1f\\n", argv[1], greet_root(atof(argv[1])));
                    return 0;
                }
                """.replace("#include <stdio.h>", "#include <stdio.h>\n#include <stdlib.h>"));
        gcc("-shared", "-fPIC", "-o", app.resolve("lib/libgreet.so").toString(), src.resolve("greet.c").toString(),
                "-lm");
        gcc("-o", app.resolve("bin/hello").toString(), src.resolve("main.c").toString(), "-L" + app.resolve("lib"),
                "-lgreet", "-Wl,-rpath,$ORIGIN/../lib", "-Wl,--enable-new-dtags");
        ElfFile elf = ElfFile.parse(Files.readAllBytes(app.resolve("bin/hello")), "hello");
        assertThat(elf.runpath()).containsExactly("$ORIGIN/../lib");
        assertThat(elf.needed()).contains("libgreet.so");

        BuildOptions o = BuildOptions.dir(app, "bin/hello").withArgs(List.of("1764"));
        Bundle b = Bundle.open(BundleBuilder.build(o, tmp.resolve("out"), false).dir());
        assertThat(Sandbox.paths(b)).contains("/app/bin/hello", "/app/lib/libgreet.so", "/lib64/ld-linux-x86-64.so.2");
        // ldd on the host resolves $ORIGIN to the host directory; the bundle holds the same libraries under /app.
        for (String lib : Sandbox.ldd(app.resolve("bin/hello").toString())) {
            String inBundle = lib.startsWith(app.toString()) ? "/app" + lib.substring(app.toString().length())
                    : lib;
            assertThat(Sandbox.paths(b)).contains(Namespace.normalize(inBundle));
        }
        Sandbox.Run run = Sandbox.runBundle(b);
        assertThat(run.exit()).as(run.err()).isZero();
        assertThat(run.out()).isEqualTo("root of 1764 is 42.0\n");

        // The same program as --binary: bundled at its own path.
        Path copy = tmp.resolve("bin2/hello");
        Files.createDirectories(copy.getParent());
        gcc("-o", copy.toString(), src.resolve("main.c").toString(), src.resolve("greet.c").toString(), "-lm");
        Bundle b2 = Bundle.open(BundleBuilder.build(BuildOptions.binary(copy).withArgs(List.of("2.25")),
                tmp.resolve("out2"), false).dir());
        assertThat(Sandbox.paths(b2)).containsAll(Sandbox.ldd(copy.toString()));
        Sandbox.Run run2 = Sandbox.runBundle(b2);
        assertThat(run2.exit()).as(run2.err()).isZero();
        assertThat(run2.out()).isEqualTo("root of 2.25 is 1.5\n");
    }

    @Test
    void pythonScriptWithTheStdlibModulesItImports() throws Exception {
        Path app = tmp.resolve("app");
        Files.createDirectories(app);
        String script = """
                #!/usr/bin/python3
                import hashlib, json, sys
                print(json.dumps({"sha": hashlib.sha256(b"abc").hexdigest()[:16], "argv": sys.argv[1:],
                                  "prefix": sys.prefix}))
                """;
        Files.writeString(app.resolve("main.py"), script);
        Files.setPosixFilePermissions(app.resolve("main.py"), PosixFilePermissions.fromString("rwxr-xr-x"));
        // The standard library files this script really imports (measured by running it here), so the test stays
        // fast; the bundled Python has nothing else and must still run.
        Sandbox.Run modules = Sandbox.run("/usr/bin/python3", "-c", """
                import runpy, sys
                sys.argv = ["main.py"]
                import io, contextlib
                with contextlib.redirect_stdout(io.StringIO()):
                    runpy.run_path(sys.argv[0] if False else %s, run_name="__main__")
                for m in list(sys.modules.values()):
                    f = getattr(m, "__file__", None)
                    if f and f.startswith("/usr/lib/python3"):
                        print(f)
                """.formatted("'" + app.resolve("main.py") + "'"));
        assertThat(modules.exit()).as(modules.err()).isZero();
        List<String> includes = new ArrayList<>(modules.out().lines().distinct().sorted().toList());
        assertThat(includes).anyMatch(f -> f.endsWith("/json/__init__.py")).anyMatch(f -> f.contains("_hashlib"));

        BuildOptions o = BuildOptions.dir(app, "main.py").withIncludes(includes).withArgs(List.of("x", "y z"));
        Bundle b = Bundle.open(BundleBuilder.build(o, tmp.resolve("py"), false).dir());
        assertThat(b.entrypoint()).isEqualTo("/usr/bin/python3");
        assertThat(b.spec().argv()).containsExactly("/usr/bin/python3", "/app/main.py", "x", "y z");
        assertThat(Sandbox.paths(b)).containsAll(Sandbox.ldd("/usr/bin/python3"));
        // The extension module's own libraries (OpenSSL) came from scanning the included ELF file.
        String hashlib = includes.stream().filter(f -> f.contains("_hashlib")).findFirst().orElseThrow();
        assertThat(Sandbox.paths(b)).containsAll(Sandbox.ldd(hashlib));
        Sandbox.Run run = Sandbox.runBundle(b);
        assertThat(run.exit()).as(run.err()).isZero();
        assertThat(run.out().strip()).isEqualTo(
                "{\"sha\": \"ba7816bf8f01cfea\", \"argv\": [\"x\", \"y z\"], \"prefix\": \"/usr\"}");
    }

    @Test
    void twoBuildsInDifferentFoldersAreIdentical() throws Exception {
        Path app1 = tmp.resolve("one/app");
        Path app2 = tmp.resolve("elsewhere/deeper/app");
        for (Path a : List.of(app1, app2)) {
            Files.createDirectories(a.resolve("data"));
            Files.writeString(a.resolve("run.sh"), "#!/bin/sh\necho hi\n");
            Files.writeString(a.resolve("data/b.txt"), "bee");
            Files.writeString(a.resolve("data/a.txt"), "ay");
        }
        // Different source modes and times must not matter except the executable bit.
        Files.setLastModifiedTime(app2.resolve("data/a.txt"), java.nio.file.attribute.FileTime.fromMillis(12345));
        BundleBuilder.Result r1 = BundleBuilder.build(BuildOptions.dir(app1, "run.sh"), tmp.resolve("x/b1"), false);
        BundleBuilder.Result r2 = BundleBuilder.build(BuildOptions.dir(app2, "run.sh"), tmp.resolve("y/z/b2"), true);
        assertThat(r2.measurement()).isEqualTo(r1.measurement());
        assertThat(r2.treeDigest()).isEqualTo(r1.treeDigest());
        // The builder's digest (from the hashes taken while copying) is the digest of what is on disk.
        assertThat(Bundle.treeDigest(r1.dir())).isEqualTo(r1.treeDigest());
        assertThat(Files.readAllBytes(r1.dir().resolve(Bundle.DESCRIPTOR)))
                .isEqualTo(Files.readAllBytes(r2.dir().resolve(Bundle.DESCRIPTOR)));
        assertThat(Files.getLastModifiedTime(r2.dir().resolve("root/app/data/a.txt")).toInstant())
                .isEqualTo(BundleBuilder.FIXED_TIME);
        // A content change changes the measurement.
        Files.writeString(app2.resolve("data/a.txt"), "AY");
        BundleBuilder.Result r3 = BundleBuilder.build(BuildOptions.dir(app2, "run.sh"), tmp.resolve("b3"), false);
        assertThat(r3.measurement()).isNotEqualTo(r1.measurement());
        Sandbox.Run run = Sandbox.runBundle(Bundle.open(r1.dir()));
        assertThat(run.exit()).as(run.err()).isZero();
        assertThat(run.out()).isEqualTo("hi\n");
    }

    @Test
    void envShebangStartsTheNamedProgramDirectly() throws Exception {
        Path app = tmp.resolve("app");
        Files.createDirectories(app);
        Files.writeString(app.resolve("hello"), "#!/usr/bin/env sh\necho \"sh says $1\"\n");
        Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.dir(app, "hello").withArgs(List.of("hi")),
                tmp.resolve("b"), false).dir());
        assertThat(b.spec().argv()).containsExactly("/usr/bin/sh", "/app/hello", "hi");
        assertThat(Sandbox.paths(b)).contains("/usr/bin/env", "/usr/bin/sh", "/app/hello")
                .containsAll(Sandbox.ldd("/usr/bin/sh"));
        Sandbox.Run run = Sandbox.runBundle(b);
        assertThat(run.exit()).as(run.err()).isZero();
        assertThat(run.out()).isEqualTo("sh says hi\n");
    }

    @Test
    void tamperingAnyFileFailsVerifyNamingIt() throws Exception {
        Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin/sqlite3")),
                tmp.resolve("b"), false).dir());
        b.verify();
        for (BundleFile f : b.files()) {
            Path p = b.hostPath(f);
            byte[] orig = Files.readAllBytes(p);
            byte[] bad = orig.clone();
            bad[bad.length / 2] ^= 1;
            p.toFile().setWritable(true);
            Files.write(p, bad);
            assertThatThrownBy(b::verify).isInstanceOf(BundleException.class)
                    .hasMessageContaining(f.path()).hasMessageContaining("modified")
                    .extracting(e -> ((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.DENIED);
            Files.write(p, orig);
        }
        b.verify();
        Path extra = b.dir().resolve("root/usr/bin/extra");
        Files.writeString(extra, "x");
        assertThatThrownBy(b::verify).hasMessageContaining("/usr/bin/extra").hasMessageContaining("not in the manifest");
        Files.delete(extra);
        Path lib = b.dir().resolve("root/lib/x86_64-linux-gnu/libz.so.1");
        Files.delete(lib);
        assertThatThrownBy(b::verify).hasMessageContaining("/lib/x86_64-linux-gnu/libz.so.1")
                .hasMessageContaining("missing");
        // Editing the manifest or cloister.json is caught when opening.
        Path m = b.dir().resolve(Bundle.MANIFEST);
        m.toFile().setWritable(true);
        Files.writeString(m, "sgx.debug = true\n", StandardOpenOption.APPEND);
        assertThatThrownBy(() -> Bundle.open(b.dir())).hasMessageContaining(Bundle.MANIFEST)
                .extracting(e -> ((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.DENIED);
    }

    @Test
    void keyBrokerSettingsAndTomlParsesWithAnIndependentParser() throws Exception {
        Path ca = tmp.resolve("ca.pem");
        Files.writeString(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        BuildOptions o = BuildOptions.binary(Path.of("/usr/bin/sqlite3")).withBroker(java.util.Optional.of(ca),
                java.util.Optional.empty()).withSgx("4G", 16, 7, 3).withEnv(Map.of("LANG", "C.UTF-8"))
                .withAllowedFiles(List.of("file:/etc/resolv.conf"));
        Bundle b = Bundle.open(BundleBuilder.build(o, tmp.resolve("b"), false).dir());
        var toml = new com.fasterxml.jackson.dataformat.toml.TomlMapper().readTree(b.manifest());
        assertThat(toml.at("/libos/entrypoint").asText()).isEqualTo("/usr/bin/sqlite3");
        assertThat(toml.at("/sgx/remote_attestation").asText()).isEqualTo("dcap");
        assertThat(toml.at("/sgx/debug").asBoolean(true)).isFalse();
        assertThat(toml.at("/sgx/enclave_size").asText()).isEqualTo("4G");
        assertThat(toml.at("/sgx/max_threads").asInt()).isEqualTo(16);
        assertThat(toml.at("/sgx/isvprodid").asInt()).isEqualTo(7);
        assertThat(toml.at("/sgx/isvsvn").asInt()).isEqualTo(3);
        assertThat(toml.at("/loader/env/SECRET_PROVISION_SET_KEY").asText()).isEqualTo("default");
        assertThat(toml.at("/loader/env/SECRET_PROVISION_CA_CHAIN_PATH").asText()).isEqualTo(BundleSpec.BROKER_CA);
        assertThat(toml.at("/loader/env/SECRET_PROVISION_SERVERS/passthrough").asBoolean()).isTrue();
        assertThat(toml.at("/loader/env/LANG").asText()).isEqualTo("C.UTF-8");
        assertThat(toml.at("/sgx/allowed_files/0").asText()).isEqualTo("file:/etc/resolv.conf");
        assertThat(toml.at("/fs/root/uri").asText()).isEqualTo("file:root");
        List<String> mountTypes = new ArrayList<>();
        toml.at("/fs/mounts").forEach(n -> mountTypes.add(n.get("path").asText() + ":" + n.get("type").asText()));
        assertThat(mountTypes).contains("/tmp:tmpfs", "/inputs:encrypted", "/outputs:encrypted",
                "/gramine/runtime:chroot");
        toml.at("/fs/mounts").forEach(n -> {
            if (n.get("type").asText().equals("encrypted")) {
                assertThat(n.get("key_name").asText()).isEqualTo("default");
            }
        });
        int hashed = 0;
        for (var t : toml.at("/sgx/trusted_files")) {
            if (t.isObject()) {
                String uri = t.get("uri").asText();
                String path = uri.substring("file:root".length());
                BundleFile f = b.files().stream().filter(x -> x.path().equals(path)).findFirst().orElseThrow();
                assertThat(t.get("sha256").asText()).isEqualTo(f.sha256());
                hashed++;
            }
        }
        assertThat(hashed).isEqualTo(b.files().size());
        assertThat(Sandbox.paths(b)).contains(BundleSpec.BROKER_CA);
        assertThat(new String(Files.readAllBytes(b.hostPath(b.files().stream()
                .filter(f -> f.path().equals(BundleSpec.BROKER_CA)).findFirst().orElseThrow())),
                StandardCharsets.US_ASCII)).startsWith("-----BEGIN CERTIFICATE-----");
    }

    private static void gcc(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("gcc", "-O1"));
        cmd.addAll(List.of(args));
        Sandbox.Run r = Sandbox.run(cmd);
        assertThat(r.exit()).as("gcc: %s", r.err()).isZero();
    }
}
