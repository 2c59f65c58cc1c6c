package dev.cloister.cli.bundle;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.OciImage;
import dev.cloister.cli.Cloister;
import dev.cloister.cli.ExitCodes;
import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The build and bundle commands through the real command line: exit codes, outputs, and nothing left behind. */
class BundleCliTest {
    @TempDir
    Path tmp;

    record Run(int exit, String out, String err) {}

    static Run cloister(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Cloister.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private static int sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(new File("/dev/null")).start();
        p.getInputStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return p.exitValue();
    }

    /** A bad input: exit 3, one line on stderr naming {@code expected}, and no output or temporary directory. */
    private void assertBadInput(Path out, String expected, String... args) throws Exception {
        Run r = cloister(args);
        assertThat(r.exit()).as(r.err()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).startsWith("cloister: ").contains(expected).doesNotContain("\tat ");
        assertThat(r.err().strip().lines()).hasSize(1);
        assertThat(out).doesNotExist();
        try (Stream<Path> s = Files.list(out.getParent())) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.contains(".tmp-"));
        }
    }

    @Test
    void badInputsExitThreeAndWriteNothing() throws Exception {
        Path out = tmp.resolve("outs/b");
        Files.createDirectories(out.getParent());
        assertBadInput(out, "/no/such/program", "build", "--binary", "/no/such/program", "--out", out.toString());

        Path text = tmp.resolve("notes.txt");
        Files.writeString(text, "just text\n");
        assertBadInput(out, "is not an ELF file", "build", "--binary", text.toString(), "--out", out.toString());

        Path src = tmp.resolve("m.c");
        Files.writeString(src, "int foo(void); int main(void) { return foo(); }\n");
        Path libsrc = tmp.resolve("foo.c");
        Files.writeString(libsrc, "int foo(void) { return 0; }\n");
        Path libdir = tmp.resolve("hidden");
        Files.createDirectories(libdir);
        assertThat(sh("gcc", "-shared", "-fPIC", "-o", libdir.resolve("libfoo.so").toString(), libsrc.toString()))
                .isZero();
        Path prog = tmp.resolve("needsfoo");
        assertThat(sh("gcc", "-o", prog.toString(), src.toString(), "-L" + libdir, "-lfoo")).isZero();
        assertBadInput(out, "missing library libfoo.so needed by " + prog, "build", "--binary", prog.toString(),
                "--out", out.toString());

        // Files named with --include are held to the same rule.
        assertBadInput(out, "missing library libfoo.so needed by " + prog, "build", "--binary", "/usr/bin/sqlite3",
                "--include", prog.toString(), "--out", out.toString());

        Path app = tmp.resolve("app");
        Files.createDirectories(app);
        Files.writeString(app.resolve("run.sh"), "#!/bin/sh\necho hi\n");
        Files.createSymbolicLink(app.resolve("secrets"), Path.of("../../../../etc/passwd"));
        assertBadInput(out, "symlink /secrets", "build", "--dir", app.toString(), "--entrypoint", "run.sh", "--out",
                out.toString());
        Files.delete(app.resolve("secrets"));
        assertBadInput(out, "escapes", "build", "--dir", app.toString(), "--entrypoint", "../run.sh", "--out",
                out.toString());

        Files.createSymbolicLink(app.resolve("loop1"), Path.of("loop2"));
        Files.createSymbolicLink(app.resolve("loop2"), Path.of("loop1"));
        assertBadInput(out, "symlink loop", "build", "--dir", app.toString(), "--entrypoint", "run.sh", "--out",
                out.toString());
        assertBadInput(out, "symlink loop", "build", "--dir", app.toString(), "--entrypoint", "loop1", "--out",
                out.toString());
        Files.delete(app.resolve("loop1"));
        Files.delete(app.resolve("loop2"));

        // Now it builds; building again into the same place is refused and leaves the first bundle alone.
        Run ok = cloister("build", "--dir", app.toString(), "--entrypoint", "run.sh", "--out", out.toString());
        assertThat(ok.exit()).as(ok.err()).isZero();
        String before = Bundle.treeDigest(out);
        Run again = cloister("build", "--dir", app.toString(), "--entrypoint", "run.sh", "--out", out.toString());
        assertThat(again.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(again.err()).contains("already exists");
        assertThat(Bundle.treeDigest(out)).isEqualTo(before);
    }

    @Test
    void usageErrors() {
        assertThat(cloister("build", "--out", tmp.resolve("x").toString()).exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(cloister("build", "--binary", "/usr/bin/sqlite3", "--dir", "/tmp", "--out", "x").exit())
                .isEqualTo(ExitCodes.USAGE);
        assertThat(cloister("build", "--dir", "/tmp", "--out", "x").exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(cloister("bundle", "keygen", "--out", tmp.resolve("k.pem").toString()).exit())
                .isEqualTo(ExitCodes.USAGE);
        Run help = cloister("build", "--help");
        assertThat(help.exit()).isZero();
        assertThat(help.out()).contains("--binary", "--dir", "--image", "--include", "--check-reproducible",
                "--broker-ca", "Examples", "Exit status");
        assertThat(cloister("help", "bundle").out()).contains("inspect", "verify", "keygen", "sign", "export-image");
    }

    /**
     * A program whose flags share names with the build command's (redis-server's --dir): its arguments go in
     * with --arg=--dir, --arg --dir, or after '--', verbatim and in order.
     */
    @Test
    void programArgumentsThatLookLikeBuildOptionsAreTheProgramsOwn() throws Exception {
        Path a = tmp.resolve("a.bundle");
        Run r = cloister("build", "--binary", "/usr/bin/true", "--arg=--dir", "--arg", "/data", "--arg", "--out",
                "--arg=x.rdb", "--out", a.toString(), "--", "--port", "7000", "--dir", "/d2");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(dev.cloister.bundle.Bundle.open(a).spec().argv())
                .containsExactly("/usr/bin/true", "--dir", "/data", "--out", "x.rdb", "--port", "7000", "--dir", "/d2");
        // only after "--": a stray word is still an error, not an argument
        Run stray = cloister("build", "--binary", "/usr/bin/true", "--out", tmp.resolve("b.bundle").toString(),
                "oops");
        assertThat(stray.exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(stray.err()).contains("'oops'").contains("after '--'");
        assertThat(tmp.resolve("b.bundle")).doesNotExist();
        Run missing = cloister("build", "--binary", "/usr/bin/true", "--out", tmp.resolve("c.bundle").toString(),
                "--arg");
        assertThat(missing.exit()).isEqualTo(ExitCodes.USAGE);
    }

    @Test
    void buildInspectSignVerifyTamper() throws Exception {
        Path b = tmp.resolve("sq.bundle");
        Run build = cloister("build", "--binary", "/usr/bin/sqlite3", "--name", "sq", "--bundle-version", "1.2.3",
                "--isvprodid", "5", "--isvsvn", "2", "--arg", ":memory:", "--out", b.toString(),
                "--check-reproducible", "--json");
        assertThat(build.exit()).as(build.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(build.out());
        assertThat(j.get("reproducible").asBoolean()).isTrue();
        String measurement = j.get("measurement").asText();
        assertThat(measurement).matches("[0-9a-f]{64}");

        Run inspect = cloister("bundle", "inspect", b.toString(), "--json");
        assertThat(inspect.exit()).as(inspect.err()).isZero();
        JsonNode i = new ObjectMapper().readTree(inspect.out());
        assertThat(i.get("name").asText()).isEqualTo("sq");
        assertThat(i.get("version").asText()).isEqualTo("1.2.3");
        assertThat(i.get("entrypoint").asText()).isEqualTo("/usr/bin/sqlite3");
        assertThat(i.get("measurement").asText()).isEqualTo(measurement);
        assertThat(i.get("mrsigner").isNull()).isTrue();
        assertThat(i.get("isvProdId").asInt()).isEqualTo(5);
        assertThat(i.get("files").asInt()).isEqualTo(j.get("files").asInt()).isGreaterThan(5);
        assertThat(cloister("bundle", "inspect", b.toString()).out()).contains("measurement " + measurement)
                .contains("(unsigned)");

        Path key = tmp.resolve("keys/signer.pem");
        Path pub = tmp.resolve("keys/signer.pub.pem");
        Files.createDirectories(key.getParent());
        Run kg = cloister("bundle", "keygen", "--signer", "--out", key.toString(), "--public-out", pub.toString());
        assertThat(kg.exit()).as(kg.err()).isZero();
        assertThat(Files.getPosixFilePermissions(key)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
        String mrsigner = kg.out().strip().substring("mrsigner ".length());
        assertThat(cloister("bundle", "verify", b.toString(), "--require-signature").exit())
                .isEqualTo(ExitCodes.DENIED);
        Run sign = cloister("bundle", "sign", b.toString(), "--key", key.toString());
        assertThat(sign.exit()).as(sign.err()).isZero();
        assertThat(sign.out()).contains(mrsigner);
        assertThat(cloister("bundle", "inspect", b.toString(), "--json").out()).contains(mrsigner);
        Run verify = cloister("bundle", "verify", b.toString(), "--require-signature");
        assertThat(verify.exit()).as(verify.err()).isZero();
        assertThat(verify.out()).contains("ok: ").contains(measurement).contains(mrsigner);

        // Signing elsewhere: body out, openssl signs, signature back in; same bytes as signing here.
        byte[] sigHere = Files.readAllBytes(b.resolve(Bundle.SIGNATURE));
        Path body = tmp.resolve("body.bin");
        assertThat(cloister("bundle", "sign", b.toString(), "--body-out", body.toString()).exit()).isZero();
        Path raw = tmp.resolve("sig.bin");
        assertThat(sh("openssl", "dgst", "-sha256", "-sign", key.toString(), "-out", raw.toString(), body.toString()))
                .isZero();
        Run back = cloister("bundle", "sign", b.toString(), "--signature", raw.toString(), "--public-key",
                pub.toString(), "--force");
        assertThat(back.exit()).as(back.err()).isZero();
        assertThat(Files.readAllBytes(b.resolve(Bundle.SIGNATURE))).isEqualTo(sigHere);

        // A signature over another bundle's measurement, or a corrupted one, fails verification.
        byte[] bad = sigHere.clone();
        bad[600] ^= 1;
        Files.write(b.resolve(Bundle.SIGNATURE), bad);
        Run badSig = cloister("bundle", "verify", b.toString());
        assertThat(badSig.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(badSig.err()).contains("signature");
        Files.write(b.resolve(Bundle.SIGNATURE), sigHere);

        // Tampering with a library: exit 1 naming it.
        Path lib = b.resolve("root/lib/x86_64-linux-gnu/libc.so.6");
        lib.toFile().setWritable(true);
        byte[] orig = Files.readAllBytes(lib);
        byte[] t = orig.clone();
        t[12345] ^= 0x20;
        Files.write(lib, t);
        Run tampered = cloister("bundle", "verify", b.toString());
        assertThat(tampered.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(tampered.err()).contains("/lib/x86_64-linux-gnu/libc.so.6").contains("modified");
        Files.write(lib, orig);
        assertThat(cloister("bundle", "verify", b.toString()).exit()).isZero();

        assertThat(cloister("bundle", "inspect", tmp.toString()).exit()).isEqualTo(ExitCodes.BAD_INPUT);
    }

    @Test
    void exportImageIsDeterministicAndReadableAsAnImage() throws Exception {
        Path app = tmp.resolve("app");
        Files.createDirectories(app);
        Files.writeString(app.resolve("run.sh"), "#!/bin/sh\necho hi\n");
        Path b = tmp.resolve("b");
        assertThat(cloister("build", "--dir", app.toString(), "--entrypoint", "run.sh", "--out", b.toString()).exit())
                .isZero();
        Path t1 = tmp.resolve("img1.tar");
        Path t2 = tmp.resolve("img2.tar");
        Run e1 = cloister("bundle", "export-image", b.toString(), t1.toString());
        assertThat(e1.exit()).as(e1.err()).isZero();
        assertThat(cloister("bundle", "export-image", b.toString(), t2.toString()).exit()).isZero();
        assertThat(Files.readAllBytes(t1)).isEqualTo(Files.readAllBytes(t2));
        assertThat(cloister("bundle", "export-image", b.toString(), t1.toString()).exit())
                .isEqualTo(ExitCodes.BAD_INPUT);
        // The system's tar can list it, and Cloister's own image reader unpacks the bundle from it intact.
        assertThat(sh("tar", "-tf", t1.toString())).isZero();
        Path rootfs = tmp.resolve("rootfs");
        Files.createDirectories(rootfs);
        OciImage.Config cfg = OciImage.unpack(t1, rootfs);
        assertThat(cfg.entrypoint()).containsExactly("gramine-sgx", "entrypoint");
        assertThat(cfg.workingDir()).isEqualTo("/cloister/bundle");
        Path unpacked = rootfs.resolve("cloister/bundle");
        Bundle.open(unpacked).verify();
        assertThat(Bundle.treeDigest(unpacked)).isEqualTo(Bundle.treeDigest(b));
    }
    @Test
    void gramineMrenclaveIsBuiltInspectedAndSigned() throws Exception {
        // A fake Gramine installation compiled from Cloister's own C sources (see its README).
        Path fake = Path.of("../cloister-bundle/src/test/resources/gramine-fake").toAbsolutePath().normalize();
        Path app = tmp.resolve("app");
        Files.createDirectories(app);
        Files.writeString(app.resolve("run.sh"), "#!/bin/sh\necho hi\n");
        Path b = tmp.resolve("b");
        Run built = cloister("build", "--dir", app.toString(), "--entrypoint", "run.sh", "--gramine",
                fake.resolve("usr").toString(), "--enclave-size", "256M", "--out", b.toString(), "--json");
        assertThat(built.exit()).as(built.err()).isZero();
        JsonNode bj = new ObjectMapper().readTree(built.out());
        String mr = bj.get("mrenclave").asText();
        assertThat(mr).matches("[0-9a-f]{64}").isNotEqualTo(bj.get("measurement").asText());
        assertThat(b.resolve(Bundle.MANIFEST_SGX)).exists();

        Run inspect = cloister("bundle", "inspect", b.toString(), "--json");
        assertThat(inspect.exit()).as(inspect.err()).isZero();
        assertThat(new ObjectMapper().readTree(inspect.out()).get("mrenclave").asText()).isEqualTo(mr);
        Run sign = cloister("bundle", "sign", b.toString(), "--key", fake.resolve("test-signer-key.pem").toString());
        assertThat(sign.exit()).as(sign.err()).isZero();
        assertThat(Bundle.open(b).sigstruct().orElseThrow().enclaveHash())
                .isEqualTo(java.util.HexFormat.of().parseHex(mr));
        Run verify = cloister("bundle", "verify", b.toString(), "--require-signature");
        assertThat(verify.exit()).as(verify.err()).isZero();

        Run bad = cloister("build", "--dir", app.toString(), "--entrypoint", "run.sh", "--gramine",
                tmp.toString(), "--out", tmp.resolve("c").toString());
        assertThat(bad.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(bad.err()).contains("is not a Gramine installation");
        assertThat(tmp.resolve("c")).doesNotExist();
    }
}
