package dev.cloister.cli.pf;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.CliRun;
import dev.cloister.cli.ExitCodes;
import dev.cloister.cli.Json;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cloister pf} end to end through the real command line, in process. */
class PfCommandTest {
    record Run(int exit, String out, String err) {
        JsonNode json() throws IOException {
            return Json.mapper().readTree(out);
        }
    }

    static Run pf(String... args) {
        CliRun r = CliRun.of(Stream.concat(Stream.of("pf"), Stream.of(args)).toArray(String[]::new));
        return new Run(r.code(), r.out(), r.err());
    }

    @TempDir
    Path dir;

    Path key;

    @BeforeEach
    void keygen() {
        key = dir.resolve("wrap.key");
        assertThat(pf("keygen", key.toString()).exit()).isZero();
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Flips the lowest bit of the byte at {@code pos}. */
    static void flipBit(Path file, long pos) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(pos);
            int b = raf.read();
            raf.seek(pos);
            raf.write(b ^ 0x01);
        }
    }

    /** Everything in {@code d}, including hidden files: proves no temporary output was left behind. */
    static List<String> listing(Path d) throws IOException {
        try (Stream<Path> s = Files.walk(d)) {
            return s.map(p -> d.relativize(p).toString()).sorted().toList();
        }
    }

    @Test
    void keygenWritesSixteenPrivateBytesAndRefusesToOverwrite() throws Exception {
        assertThat(Files.size(key)).isEqualTo(16);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key))).isEqualTo("rw-------");
        byte[] before = Files.readAllBytes(key);
        Run again = pf("keygen", key.toString());
        assertThat(again.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(again.err()).startsWith("cloister: ").contains(key.toString());
        assertThat(Files.readAllBytes(key)).isEqualTo(before);

        Path other = dir.resolve("other.key");
        Run json = pf("keygen", "--json", other.toString());
        assertThat(json.exit()).isZero();
        assertThat(json.json().get("key_file").asText()).isEqualTo(other.toAbsolutePath().normalize().toString());
        assertThat(Files.readAllBytes(other)).isNotEqualTo(before);
    }

    @Test
    void encryptBindsToTheAbsoluteOutPathByDefaultAndDecryptsBack() throws Exception {
        byte[] plain = random(1_000_003, 1);
        Path in = dir.resolve("in.bin");
        Files.write(in, plain);
        Path pfFile = dir.resolve("sub/../in.pf");
        Files.createDirectories(dir.resolve("sub"));
        Run enc = pf("encrypt", "--key", key.toString(), "--json", in.toString(), pfFile.toString());
        assertThat(enc.exit()).as(enc.err()).isZero();
        String expectedPath = dir.resolve("in.pf").toAbsolutePath().normalize().toString();
        assertThat(enc.json().get("files").get(0).get("embedded_path").asText()).isEqualTo(expectedPath);
        assertThat(enc.json().get("files").get(0).get("format").asText()).isEqualTo("v2");

        Run inspect = pf("inspect", "--key", key.toString(), "--json", dir.resolve("in.pf").toString());
        assertThat(inspect.exit()).isZero();
        JsonNode i = inspect.json();
        assertThat(i.get("embedded_path").asText()).isEqualTo(expectedPath);
        assertThat(i.get("plaintext_size").asLong()).isEqualTo(plain.length);
        assertThat(i.get("host_size").asLong()).isEqualTo(Files.size(dir.resolve("in.pf")));
        assertThat(i.get("authenticated").asBoolean()).isTrue();
        long dataNodes = (plain.length - 3072 + 4095) / 4096;
        assertThat(i.get("data_nodes").asLong()).isEqualTo(dataNodes);
        assertThat(i.get("mht_nodes").asLong()).isEqualTo((dataNodes + 95) / 96);

        Path back = dir.resolve("back.bin");
        Run dec = pf("decrypt", "--key", key.toString(), "--path", expectedPath, dir.resolve("in.pf").toString(),
                back.toString());
        assertThat(dec.exit()).as(dec.err()).isZero();
        assertThat(Files.readAllBytes(back)).isEqualTo(plain);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(back))).isEqualTo("rw-------");
    }

    @Test
    void explicitPathAndFormatV1() throws Exception {
        byte[] plain = random(5000, 2);
        Path in = dir.resolve("in");
        Files.write(in, plain);
        Path out = dir.resolve("out.pf");
        assertThat(pf("encrypt", "-k", key.toString(), "--path", "/enclave/data/in", "--format", "v1", in.toString(),
                out.toString()).exit()).isZero();
        Run noKey = pf("inspect", "--json", out.toString());
        assertThat(noKey.exit()).isZero();
        assertThat(noKey.json().get("format").asText()).isEqualTo("v1");
        assertThat(noKey.json().get("authenticated").asBoolean()).isFalse();
        assertThat(noKey.json().has("embedded_path")).isFalse();
        assertThat(noKey.json().get("data_nodes").asLong()).isEqualTo(1);
        assertThat(noKey.json().get("mht_nodes").asLong()).isEqualTo(1);
        Run text = pf("inspect", "--key", key.toString(), out.toString());
        assertThat(text.out()).contains("v1").contains("/enclave/data/in").contains("5,000 bytes");

        Path trusted = dir.resolve("trusted");
        Run dec = pf("decrypt", "-k", key.toString(), "--trust-embedded-path", "--json", out.toString(),
                trusted.toString());
        assertThat(dec.exit()).isZero();
        assertThat(dec.json().get("files").get(0).get("embedded_path").asText()).isEqualTo("/enclave/data/in");
        assertThat(Files.readAllBytes(trusted)).isEqualTo(plain);
    }

    @Test
    void badFormatAndMissingPathChoiceAreUsageErrors() throws Exception {
        Path in = dir.resolve("in");
        Files.write(in, new byte[10]);
        assertThat(pf("encrypt", "-k", key.toString(), "--format", "v3", in.toString(), dir.resolve("o").toString())
                .exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(pf("encrypt", "-k", key.toString(), "--jobs", "0", in.toString(), dir.resolve("o").toString())
                .exit()).isEqualTo(ExitCodes.USAGE);
        Path pfFile = dir.resolve("in.pf");
        assertThat(pf("encrypt", "-k", key.toString(), in.toString(), pfFile.toString()).exit()).isZero();
        Run none = pf("decrypt", "-k", key.toString(), pfFile.toString(), dir.resolve("x").toString());
        assertThat(none.exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(none.err()).contains("EXPECTED").contains("--trust-embedded-path");
        Run both = pf("decrypt", "-k", key.toString(), "--path", "/a", "--trust-embedded-path", pfFile.toString(),
                dir.resolve("x").toString());
        assertThat(both.exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(dir.resolve("x")).doesNotExist();
    }

    @Test
    void existingOutputIsKeptUnlessForced() throws Exception {
        Path in = dir.resolve("in");
        Files.write(in, random(100, 3));
        Path out = dir.resolve("out.pf");
        Files.writeString(out, "precious");
        Run r = pf("encrypt", "-k", key.toString(), in.toString(), out.toString());
        assertThat(r.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(Files.readString(out)).isEqualTo("precious");
        assertThat(pf("encrypt", "-k", key.toString(), "--force", in.toString(), out.toString()).exit()).isZero();
        assertThat(Files.size(out)).isEqualTo(4096);
    }

    /** Sets up a multi-node encrypted file bound to its own path, for the failure cases. */
    private Path encrypted(byte[] plain) throws IOException {
        Path in = dir.resolve("plain");
        Files.write(in, plain);
        Path out = dir.resolve("enc.pf");
        assertThat(pf("encrypt", "-k", key.toString(), in.toString(), out.toString()).exit()).isZero();
        return out;
    }

    @Test
    void wrongPathFailsClosedWithNoOutput() throws Exception {
        Path enc = encrypted(random(50_000, 4));
        List<String> before = listing(dir);
        Run r = pf("decrypt", "-k", key.toString(), "--path", "/somewhere/else", enc.toString(),
                dir.resolve("out").toString());
        assertThat(r.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(r.err()).startsWith("cloister: ").contains("/somewhere/else").doesNotContain("Exception");
        assertThat(r.err().lines()).hasSize(1);
        assertThat(listing(dir)).isEqualTo(before);
    }

    @Test
    void wrongKeyFailsClosedWithNoOutput() throws Exception {
        Path enc = encrypted(random(50_000, 5));
        Path other = dir.resolve("other.key");
        assertThat(pf("keygen", other.toString()).exit()).isZero();
        List<String> before = listing(dir);
        Run r = pf("decrypt", "-k", other.toString(), "--trust-embedded-path", enc.toString(),
                dir.resolve("out").toString());
        assertThat(r.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(r.err()).contains("metadata node").contains("authentication");
        assertThat(listing(dir)).isEqualTo(before);
        assertThat(pf("inspect", "-k", other.toString(), enc.toString()).exit()).isEqualTo(ExitCodes.DENIED);
    }

    @Test
    void tamperedLastNodeLeavesNoPartialPlaintext() throws Exception {
        // Most of the plaintext authenticates and is decrypted before the last node fails: none of it may remain.
        Path enc = encrypted(random(2_000_000, 6));
        flipBit(enc, Files.size(enc) - 100);
        List<String> before = listing(dir);
        Run r = pf("decrypt", "-k", key.toString(), "--trust-embedded-path", enc.toString(),
                dir.resolve("out").toString());
        assertThat(r.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(r.err()).contains("data node").contains("failed authentication");
        assertThat(listing(dir)).isEqualTo(before);
    }

    @Test
    void oneLargeFileSplitAmongThreadsRoundTripsAndFailsClosed() throws Exception {
        byte[] data = random(6_000_000, 8); // above the 4 MiB where one file is split among threads
        Path plain = Files.write(dir.resolve("big.bin"), data);
        Path enc = dir.resolve("big.pf");
        Run e = pf("encrypt", "-k", key.toString(), "--path", "/data/big", "--jobs", "2", plain.toString(),
                enc.toString());
        assertThat(e.exit()).as(e.err()).isZero();
        Path back = dir.resolve("big.out");
        Run d = pf("decrypt", "-k", key.toString(), "--path", "/data/big", "--jobs", "2", enc.toString(),
                back.toString());
        assertThat(d.exit()).as(d.err()).isZero();
        assertThat(Files.readAllBytes(back)).isEqualTo(data);
        // One thread reads what two wrote.
        Path back1 = dir.resolve("big.out1");
        assertThat(pf("decrypt", "-k", key.toString(), "--path", "/data/big", "--jobs", "1", enc.toString(),
                back1.toString()).exit()).isZero();
        assertThat(Files.readAllBytes(back1)).isEqualTo(data);

        flipBit(enc, Files.size(enc) / 2);
        List<String> before = listing(dir);
        Run bad = pf("decrypt", "-k", key.toString(), "--path", "/data/big", "--jobs", "2", enc.toString(),
                dir.resolve("out").toString());
        assertThat(bad.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(bad.err()).contains("failed authentication");
        assertThat(listing(dir)).isEqualTo(before);
    }

    @Test
    void malformedInputIsBadInputWithNoOutput() throws Exception {
        Path junk = dir.resolve("junk");
        Files.write(junk, random(8192, 7));
        Path odd = dir.resolve("odd");
        Files.write(odd, random(1000, 8));
        Path enc = encrypted(random(100_000, 9));
        Path truncated = dir.resolve("truncated.pf");
        byte[] all = Files.readAllBytes(enc);
        Files.write(truncated, java.util.Arrays.copyOf(all, all.length - 4096));
        List<String> before = listing(dir);
        for (Path p : List.of(junk, odd, truncated)) {
            Run r = pf("decrypt", "-k", key.toString(), "--trust-embedded-path", p.toString(),
                    dir.resolve("out").toString());
            assertThat(r.exit()).as(p + ": " + r.err()).isEqualTo(ExitCodes.BAD_INPUT);
            assertThat(r.err()).contains(p.toString());
        }
        assertThat(pf("inspect", junk.toString()).exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(pf("inspect", odd.toString()).err()).contains("multiple of 4096");
        Path badKey = dir.resolve("bad.key");
        Files.write(badKey, new byte[15]);
        Run k = pf("decrypt", "-k", badKey.toString(), "--trust-embedded-path", enc.toString(),
                dir.resolve("out").toString());
        assertThat(k.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(k.err()).contains("16");
        Files.delete(badKey);
        assertThat(listing(dir)).isEqualTo(before);
        assertThat(pf("decrypt", "-k", key.toString(), "--trust-embedded-path", dir.resolve("nope").toString(),
                dir.resolve("out").toString()).exit()).isEqualTo(ExitCodes.BAD_INPUT);
    }

    private Path tree() throws IOException {
        Path src = dir.resolve("src");
        Files.createDirectories(src.resolve("a/b"));
        Files.write(src.resolve("top"), random(10, 10));
        Files.write(src.resolve("empty"), new byte[0]);
        Files.write(src.resolve("a/mid"), random(400_000, 11));
        Files.write(src.resolve("a/b/deep"), random(3073, 12));
        for (int i = 0; i < 6; i++) {
            Files.write(src.resolve("a/f" + i), random(20_000 * i, 13 + i));
        }
        return src;
    }

    @Test
    void directoryRoundTripBindsEachFileToItsOwnPath() throws Exception {
        Path src = tree();
        Path enc = dir.resolve("enc");
        Run e = pf("encrypt", "-k", key.toString(), "--path", "/enclave/in/", "--jobs", "2", "--json",
                src.toString(), enc.toString());
        assertThat(e.exit()).as(e.err()).isZero();
        assertThat(e.json().get("files")).hasSize(10);
        assertThat(e.json().get("directory").asBoolean()).isTrue();
        // Each file decrypts on its own with its own path, and not with a sibling's.
        Run one = pf("decrypt", "-k", key.toString(), "--path", "/enclave/in/a/b/deep", enc.resolve("a/b/deep")
                .toString(), dir.resolve("deep").toString());
        assertThat(one.exit()).as(one.err()).isZero();
        assertThat(Files.readAllBytes(dir.resolve("deep"))).isEqualTo(Files.readAllBytes(src.resolve("a/b/deep")));
        assertThat(pf("decrypt", "-k", key.toString(), "--path", "/enclave/in/a/mid", enc.resolve("a/b/deep")
                .toString(), dir.resolve("deep2").toString()).exit()).isEqualTo(ExitCodes.DENIED);

        Path back = dir.resolve("back");
        Run d = pf("decrypt", "-k", key.toString(), "--path", "/enclave/in", "--jobs", "2", enc.toString(),
                back.toString());
        assertThat(d.exit()).as(d.err()).isZero();
        for (String rel : List.of("top", "empty", "a/mid", "a/b/deep", "a/f0", "a/f5")) {
            assertThat(Files.readAllBytes(back.resolve(rel))).as(rel).isEqualTo(Files.readAllBytes(src.resolve(rel)));
        }
        assertThat(listing(back)).isEqualTo(listing(src));
        // Default base: the absolute OUT directory.
        Path enc2 = dir.resolve("enc2");
        assertThat(pf("encrypt", "-k", key.toString(), "--jobs", "1", src.toString(), enc2.toString()).exit()).isZero();
        Run ins = pf("inspect", "-k", key.toString(), "--json", enc2.resolve("a/mid").toString());
        assertThat(ins.json().get("embedded_path").asText())
                .isEqualTo(enc2.toAbsolutePath().normalize().resolve("a/mid").toString());
    }

    @Test
    void directoryFailureLeavesNothing() throws Exception {
        Path src = tree();
        Path enc = dir.resolve("enc");
        assertThat(pf("encrypt", "-k", key.toString(), "--path", "/p", src.toString(), enc.toString()).exit()).isZero();
        byte[] mid = Files.readAllBytes(enc.resolve("a/mid"));
        mid[mid.length - 5] ^= 0x40;
        Files.write(enc.resolve("a/mid"), mid);
        List<String> before = listing(dir);
        Run r = pf("decrypt", "-k", key.toString(), "--path", "/p", "--jobs", "2", enc.toString(),
                dir.resolve("back").toString());
        assertThat(r.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(r.err()).contains("a/mid");
        assertThat(listing(dir)).isEqualTo(before);
        Run wrongBase = pf("decrypt", "-k", key.toString(), "--path", "/q", enc.toString(),
                dir.resolve("back").toString());
        assertThat(wrongBase.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(listing(dir)).isEqualTo(before);
        // An existing output directory is refused and left alone.
        Files.createDirectories(dir.resolve("taken"));
        assertThat(pf("encrypt", "-k", key.toString(), src.toString(), dir.resolve("taken").toString()).exit())
                .isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(listing(dir.resolve("taken"))).containsExactly("");
    }

    @Test
    void symlinksInATreeAreRefused() throws Exception {
        Path src = tree();
        Files.createSymbolicLink(src.resolve("link"), src.resolve("top"));
        List<String> before = listing(dir);
        Run r = pf("encrypt", "-k", key.toString(), src.toString(), dir.resolve("enc").toString());
        assertThat(r.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(r.err()).contains("link");
        assertThat(listing(dir)).isEqualTo(before);
    }

    @Test
    void helpDescribesEveryOption() {
        for (String cmd : List.of("keygen", "encrypt", "decrypt", "inspect")) {
            Run r = pf(cmd, "--help");
            assertThat(r.exit()).isZero();
            assertThat(r.out()).contains("Usage: cloister pf " + cmd).contains("Examples");
        }
        assertThat(pf("encrypt", "--help").out()).contains("--path").contains("--format").contains("--jobs")
                .contains("Default: v2");
        assertThat(pf("decrypt", "--help").out()).contains("--trust-embedded-path");
        Run bare = pf();
        assertThat(bare.exit()).isEqualTo(ExitCodes.USAGE);
    }
}
