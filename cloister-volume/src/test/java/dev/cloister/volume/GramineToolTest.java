package dev.cloister.volume;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.pf.PfKey;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gramine's own code reads and writes a volume: its {@code gramine-sgx-pf-crypt} tool (built from the Gramine 1.9
 * sources by scripts/gramine-local) decrypts the volume's files with path verification when they are reached under
 * the mount's URI path ({@code state/...}), refuses them under another path, and a file it encrypts into the
 * volume is recorded by a checkpoint. Skipped only where the tool has not been built
 * ({@code CLOISTER_GRAMINE_PF_CRYPT} names it explicitly).
 */
class GramineToolTest {
    @TempDir
    Path tmp;

    static Optional<Path> tool() throws Exception {
        String env = System.getenv("CLOISTER_GRAMINE_PF_CRYPT");
        if (env != null) {
            return Optional.of(Path.of(env));
        }
        Path cache = Path.of(System.getProperty("user.home"), ".cache/cloister/gramine");
        if (!Files.isDirectory(cache)) {
            return Optional.empty();
        }
        try (Stream<Path> s = Files.list(cache)) {
            return s.map(d -> d.resolve("bin/gramine-sgx-pf-crypt")).filter(Files::isExecutable).findFirst();
        }
    }

    private static int run(Path cwd, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor();
    }

    @Test
    void gramineReadsTheVolumeUnderItsMountPathOnlyAndItsWritesCanBeRecorded() throws Exception {
        Optional<Path> tool = tool();
        Assumptions.assumeTrue(tool.isPresent(), "gramine-sgx-pf-crypt not built here (scripts/gramine-local)");
        String g = tool.get().toString();
        Path src = Trees.make(tmp.resolve("src"), 4);
        Path vol = tmp.resolve("vol");
        Path keyFile = tmp.resolve("k");
        try (PfKey key = PfKey.generate()) {
            Files.write(keyFile, key.toBytes());
            VolumeImporter.importTree(src, vol, key, "state", 2, n -> {});
            Path work = tmp.resolve("enclave-cwd");
            Files.createDirectories(work);
            Files.createSymbolicLink(work.resolve("state"), vol.resolve("files"));
            Files.createSymbolicLink(work.resolve("elsewhere"), vol.resolve("files"));

            assertThat(run(work, g, "decrypt", "-V", "-w", keyFile.toString(), "-i", "state", "-o", "out")).isZero();
            assertThat(Trees.content(work.resolve("out"))).isEqualTo(Trees.content(src));
            // Gramine's path check: the same files reached under another path are refused.
            assertThat(run(work, g, "decrypt", "-V", "-w", keyFile.toString(), "-i", "elsewhere", "-o", "out2"))
                    .isNotZero();

            // Gramine writes a new file into the volume (as the enclave would through the mount).
            Path plain = tmp.resolve("new.bin");
            Files.write(plain, Trees.bytes(new java.util.Random(1), 50_000));
            assertThat(run(work, g, "encrypt", "-w", keyFile.toString(), "-i", plain.toString(), "-o",
                    "state/db/new.bin")).isZero();
            List<VolumeVerifier.Difference> d = VolumeVerifier.verify(vol, key, VolumeVerifier.Expected.NONE, 2,
                    n -> {}).differences();
            assertThat(d).extracting(VolumeVerifier.Difference::kind, VolumeVerifier.Difference::path)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(VolumeVerifier.Kind.ADDED, "db/new.bin"));
            VolumeRecord v2 = Volume.checkpoint(vol, key, 2);
            assertThat(VolumeVerifier.verify(vol, key, new VolumeVerifier.Expected(2L, v2.rootHex()), 2, n -> {})
                    .ok()).isTrue();
            Path out = tmp.resolve("export");
            assertThat(VolumeVerifier.export(vol, out, key, VolumeVerifier.Expected.NONE, false, 2, n -> {}).ok())
                    .isTrue();
            assertThat(Files.readAllBytes(out.resolve("db/new.bin"))).isEqualTo(Files.readAllBytes(plain));
        }
    }
}
