package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.interfaces.RSAPrivateCrtKey;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Cloister's Gramine signing against the real {@code gramine-sgx-sign} of Gramine 1.9: for each case in
 * {@code src/test/resources/gramine-fake/expected/} (produced as its README says, with a fake Gramine installation
 * compiled from our own C sources), the manifest given to the tool, the {@code .manifest.sgx} it wrote, the
 * MRENCLAVE it printed and the SIGSTRUCT it signed must all be reproduced byte for byte.
 */
class GramineSignCompatTest {
    static final Path FAKE = Path.of("src/test/resources/gramine-fake");
    static final Path LIB = FAKE.resolve("usr/lib/x86_64-linux-gnu/gramine");

    /** The installation as the real tool saw it: the library directory mounted at HOST_LIB. */
    static Map<String, String> hostHashes(BundleSpec spec) throws Exception {
        return new GramineInstall(LIB.toAbsolutePath()).hostHashes(spec);
    }

    static BundleSpec spec(String name) throws Exception {
        return GramineFixtures.cases(GramineInstall.sha256(LIB.resolve("libsysdb.so"))).get(name);
    }

    static String printedMrenclave(Path dir) throws Exception {
        String out = Files.readString(dir.resolve("sign-output.txt"));
        Matcher m = Pattern.compile("Measurement:\\s+([0-9a-f]{64})").matcher(out);
        assertThat(m.find()).as("sign-output.txt has the printed measurement").isTrue();
        return m.group(1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "broker"})
    void reproducesTheRealToolByteForByte(String name) throws Exception {
        Path dir = FAKE.resolve("expected").resolve(name);
        BundleSpec spec = spec(name);
        assertThat(new String(spec.manifest(), StandardCharsets.UTF_8))
                .as("the manifest given to gramine-sgx-sign is what this spec renders")
                .isEqualTo(Files.readString(dir.resolve("entrypoint.manifest")));

        GramineInstall.GramineResult r = new GramineInstall(LIB.toAbsolutePath()).measure(spec);
        assertThat(new String(r.manifestSgx(), StandardCharsets.UTF_8))
                .isEqualTo(Files.readString(dir.resolve("entrypoint.manifest.sgx")));
        assertThat(r.manifestSgx()).isEqualTo(Files.readAllBytes(dir.resolve("entrypoint.manifest.sgx")));
        assertThat(r.mrenclave()).isEqualTo(printedMrenclave(dir));

        byte[] sig = Files.readAllBytes(dir.resolve("entrypoint.sig"));
        Sigstruct theirs = Sigstruct.parse(sig);
        assertThat(HexFormat.of().formatHex(theirs.enclaveHash())).isEqualTo(r.mrenclave());
        RSAPrivateCrtKey key = SignerKeys.readPrivate(Files.readAllBytes(FAKE.resolve("test-signer-key.pem")), "key");
        Sigstruct ours = Sigstruct.unsigned(HexFormat.of().parseHex(r.mrenclave()), spec.isvProdId(), spec.isvSvn(),
                Optional.empty()).sign(key, SignerKeys.publicOf(key));
        assertThat(HexFormat.of().formatHex(ours.toBytes())).isEqualTo(HexFormat.of().formatHex(sig));
    }

    @Test
    void theLayoutIsTheOneTheToolPrinted() throws Exception {
        // The tool's verbose output lists every area as "start-end [TYPE:RWX] (name)"; ours must list the same.
        Path dir = FAKE.resolve("expected/broker");
        BundleSpec spec = spec("broker");
        GramineInstall inst = new GramineInstall(LIB.toAbsolutePath());
        byte[] sgx = GramineManifest.manifestSgx(spec, inst.hostHashes(spec));
        GramineInstall.Pal pal = inst.pal();
        GramineEnclave.Measurement m = GramineEnclave.measure(sgx, 1L << 30, 8, false, pal.image(), pal.bytes());
        Matcher lines = Pattern.compile("([0-9a-f]{16})-([0-9a-f]{16}) \\[(REG|TCS):...\\] \\((\\w+)\\)")
                .matcher(Files.readString(dir.resolve("sign-output.txt")));
        List<String> printed = new java.util.ArrayList<>();
        while (lines.find()) {
            printed.add(lines.group(4) + "@" + Long.parseLong(lines.group(1), 16));
        }
        // The tool prints the PAL per segment ("code"/"data"); compare the non-PAL areas and the PAL's extent.
        List<String> ours = m.areas().stream().filter(a -> !a.name().equals("pal")).map(a -> a.name() + "@" + a.addr())
                .toList();
        assertThat(printed.stream().filter(s -> !s.startsWith("code@") && !s.startsWith("data@")).toList())
                .isEqualTo(ours);
        GramineEnclave.Area palArea = m.areas().stream().filter(a -> a.name().equals("pal")).findFirst().orElseThrow();
        assertThat(printed.stream().filter(s -> s.startsWith("code@") || s.startsWith("data@"))
                .mapToLong(s -> Long.parseLong(s.substring(5))).min().orElseThrow()).isEqualTo(palArea.addr());
    }

    @Test
    void anyChangeToAnInputChangesMrenclave() throws Exception {
        GramineInstall inst = new GramineInstall(LIB.toAbsolutePath());
        BundleSpec base = spec("plain");
        String m0 = inst.measure(base).mrenclave();
        BundleSpec bigger = new BundleSpec(base.entrypoint(), base.argv(), base.env(), base.passthroughEnv(),
                base.files(), base.allowedFiles(), "512M", base.maxThreads(), base.isvProdId(), base.isvSvn(),
                base.libos(), base.libosSha256(), base.inputsPath(), base.outputsPath(), base.keyBroker(),
                base.gramineRuntime());
        BundleSpec threads = new BundleSpec(base.entrypoint(), base.argv(), base.env(), base.passthroughEnv(),
                base.files(), base.allowedFiles(), base.enclaveSize(), 5, base.isvProdId(), base.isvSvn(),
                base.libos(), base.libosSha256(), base.inputsPath(), base.outputsPath(), base.keyBroker(),
                base.gramineRuntime());
        BundleSpec svn = new BundleSpec(base.entrypoint(), base.argv(), base.env(), base.passthroughEnv(),
                base.files(), base.allowedFiles(), base.enclaveSize(), base.maxThreads(), base.isvProdId(), 9,
                base.libos(), base.libosSha256(), base.inputsPath(), base.outputsPath(), base.keyBroker(),
                base.gramineRuntime());
        assertThat(inst.measure(bigger).mrenclave()).isNotEqualTo(m0);
        assertThat(inst.measure(threads).mrenclave()).isNotEqualTo(m0);
        // ISVSVN is in the manifest, so it is measured too (Gramine signs the manifest bytes into MRENCLAVE).
        assertThat(inst.measure(svn).mrenclave()).isNotEqualTo(m0);
        assertThat(inst.measure(base).mrenclave()).isEqualTo(m0);
    }

    @Test
    void aTooSmallEnclaveOrNonPowerOfTwoIsBadInput() throws Exception {
        GramineInstall inst = new GramineInstall(LIB.toAbsolutePath());
        BundleSpec base = spec("plain");
        for (String size : List.of("3M", "768M")) {
            BundleSpec s = new BundleSpec(base.entrypoint(), base.argv(), base.env(), base.passthroughEnv(),
                    base.files(), base.allowedFiles(), size, base.maxThreads(), base.isvProdId(), base.isvSvn(),
                    base.libos(), base.libosSha256(), base.inputsPath(), base.outputsPath(), base.keyBroker(),
                    base.gramineRuntime());
            assertThatThrownBy(() -> inst.measure(s)).isInstanceOf(BundleException.class)
                    .hasMessageContaining("sgx.enclave_size")
                    .extracting(e -> ((BundleException) e).kind())
                    .isEqualTo(dev.cloister.core.CloisterException.Kind.BAD_INPUT);
        }
    }

    @Test
    void locatesBothTheLibraryDirectoryAndAPrefix() throws Exception {
        Path lib = LIB.toAbsolutePath().normalize();
        assertThat(GramineInstall.locate(lib).libDir()).isEqualTo(lib);
        assertThat(GramineInstall.locate(FAKE.resolve("usr")).libDir()).isEqualTo(lib);
        assertThatThrownBy(() -> GramineInstall.locate(FAKE)).isInstanceOf(BundleException.class)
                .hasMessageContaining("is not a Gramine installation");
    }
}
