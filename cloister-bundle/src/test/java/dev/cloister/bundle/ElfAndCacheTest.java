package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** ELF and ld.so.cache parsing, checked against binutils' readelf and glibc's ldconfig; and fuzzed. */
class ElfAndCacheTest {
    private static final Pattern DYN = Pattern.compile("\\((NEEDED|SONAME|RUNPATH|RPATH)\\)\\s+\\S+.*?: \\[(.*)\\]");

    /** What readelf says about a file's dynamic section and interpreter. */
    private record Readelf(List<String> needed, List<String> soname, List<String> runpath, List<String> rpath,
            String interp) {}

    private static Readelf readelf(String file) throws Exception {
        Sandbox.Run r = Sandbox.run("readelf", "-d", "-l", "-W", file);
        assertThat(r.exit()).as(r.err()).isZero();
        List<String> needed = new ArrayList<>();
        List<String> soname = new ArrayList<>();
        List<String> runpath = new ArrayList<>();
        List<String> rpath = new ArrayList<>();
        String interp = null;
        for (String line : r.out().split("\n")) {
            Matcher m = DYN.matcher(line);
            if (m.find()) {
                switch (m.group(1)) {
                    case "NEEDED" -> needed.add(m.group(2));
                    case "SONAME" -> soname.add(m.group(2));
                    case "RUNPATH" -> runpath.addAll(List.of(m.group(2).split(":")));
                    default -> rpath.addAll(List.of(m.group(2).split(":")));
                }
            }
            int i = line.indexOf("[Requesting program interpreter: ");
            if (i >= 0) {
                interp = line.substring(i + 33, line.indexOf(']', i));
            }
        }
        return new Readelf(needed, soname, runpath, rpath, interp);
    }

    @Test
    void matchesReadelfOnSystemFiles() throws Exception {
        List<String> files = new ArrayList<>(List.of("/usr/bin/sqlite3", "/usr/bin/python3.11", "/usr/bin/ls"));
        for (String lib : Sandbox.ldd("/usr/bin/python3")) {
            files.add(lib);
        }
        for (String f : files) {
            Path p = Path.of(f);
            if (!Files.exists(p)) {
                continue;
            }
            ElfFile e = ElfFile.parse(Files.readAllBytes(p), f);
            Readelf want = readelf(f);
            assertThat(e.needed()).as(f).isEqualTo(want.needed());
            assertThat(e.soname().stream().toList()).as(f).isEqualTo(want.soname());
            assertThat(e.runpath()).as(f).isEqualTo(want.runpath());
            assertThat(e.rpath()).as(f).isEqualTo(want.rpath());
            assertThat(e.interpreter().orElse(null)).as(f).isEqualTo(want.interp());
            assertThat(e.elfClass()).isEqualTo(64);
            assertThat(e.machine()).isEqualTo(ElfFile.EM_X86_64);
            assertThat(e.littleEndian()).isTrue();
        }
    }

    @Test
    void rejectsNonElfAndTruncatedFiles() throws Exception {
        assertThatThrownBy(() -> ElfFile.parse("#!/bin/sh\n".getBytes(), "script")).isInstanceOf(BundleException.class)
                .hasMessageContaining("script is not an ELF file");
        byte[] ls = Files.readAllBytes(Path.of("/usr/bin/sqlite3"));
        assertThatThrownBy(() -> ElfFile.parse(java.util.Arrays.copyOf(ls, 40), "short"))
                .hasMessageContaining("short");
        assertThatThrownBy(() -> ElfFile.parse(java.util.Arrays.copyOf(ls, 200), "cut"))
                .isInstanceOf(BundleException.class).hasMessageContaining("cut");
    }

    @Test
    void fuzzedElfGivesOnlyTypedErrors() throws Exception {
        byte[] orig = Files.readAllBytes(Path.of("/usr/bin/sqlite3"));
        // The headers and the dynamic section are what the parser reads; mutate the first 64 KiB.
        Random rnd = new Random(20261127L);
        int parsed = 0;
        for (int i = 0; i < 3000; i++) {
            byte[] b = orig.clone();
            int n = 1 + rnd.nextInt(8);
            for (int k = 0; k < n; k++) {
                b[rnd.nextInt(Math.min(b.length, 1 << 16))] = (byte) rnd.nextInt(256);
            }
            if (rnd.nextInt(10) == 0) {
                b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length));
            }
            try {
                ElfFile.parse(b, "fuzz");
                parsed++;
            } catch (BundleException e) {
                assertThat(e.getMessage()).startsWith("fuzz");
            }
        }
        assertThat(parsed).isPositive();
    }

    @Test
    void ldSoCacheMatchesLdconfig() throws Exception {
        LdSoCache c = LdSoCache.parse(Files.readAllBytes(Path.of("/etc/ld.so.cache")), "/etc/ld.so.cache");
        Sandbox.Run r = Sandbox.run("/usr/sbin/ldconfig", "-p");
        assertThat(r.exit()).isZero();
        List<String> want = new ArrayList<>();
        Pattern p = Pattern.compile("^\\s+(\\S+) \\(.*\\) => (\\S+)$");
        for (String line : r.out().split("\n")) {
            Matcher m = p.matcher(line);
            if (m.find()) {
                want.add(m.group(1) + " " + m.group(2));
            }
        }
        List<String> got = c.entries().stream().map(e -> e.name() + " " + e.path()).toList();
        assertThat(got).isEqualTo(want);
        assertThat(c.lookup("libc.so.6")).contains("/lib/x86_64-linux-gnu/libc.so.6");
    }

    @Test
    void fuzzedCacheGivesOnlyTypedErrors() throws Exception {
        byte[] orig = Files.readAllBytes(Path.of("/etc/ld.so.cache"));
        Random rnd = new Random(42);
        for (int i = 0; i < 2000; i++) {
            byte[] b = orig.clone();
            for (int k = 0; k < 4; k++) {
                b[rnd.nextInt(Math.min(b.length, 4096))] = (byte) rnd.nextInt(256);
            }
            if (rnd.nextBoolean()) {
                b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length));
            }
            try {
                LdSoCache.parse(b, "c");
            } catch (BundleException e) {
                assertThat(e.getMessage()).startsWith("c:");
            }
        }
        assertThatThrownBy(() -> LdSoCache.parse(new byte[10], "tiny")).hasMessageContaining("tiny");
    }
}
