package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.interfaces.RSAPrivateCrtKey;
import java.util.HexFormat;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cloister build --gramine}: MRENCLAVE recorded, {@code entrypoint.manifest.sgx} written and checked, signing. */
class GramineBuildTest {
    static final Path FAKE = GramineSignCompatTest.FAKE;

    @TempDir
    Path tmp;
    Path app;

    @BeforeEach
    void app() throws Exception {
        app = tmp.resolve("src/app");
        Files.createDirectories(app);
        Files.writeString(app.resolve("run.sh"), "#!/bin/sh\necho hi\n");
        Files.writeString(app.resolve("data.txt"), "data");
    }

    BuildOptions options() {
        return BuildOptions.dir(app, "run.sh").withGramine(Optional.of(FAKE.resolve("usr")));
    }

    @Test
    void recordsMrenclaveAndTheExpandedManifest() throws Exception {
        BundleBuilder.Result r = BundleBuilder.build(options(), tmp.resolve("b"), true);
        assertThat(r.mrenclave()).hasValueSatisfying(m -> assertThat(m).matches("[0-9a-f]{64}"));
        Bundle b = Bundle.open(r.dir());
        assertThat(b.mrenclave()).isEqualTo(r.mrenclave());
        assertThat(b.enclaveHash()).isEqualTo(r.mrenclave().get());
        // The manifest pins the LibOS of the given installation.
        String libsysdb = GramineInstall.sha256(GramineSignCompatTest.LIB.resolve("libsysdb.so"));
        assertThat(b.spec().libosSha256()).hasValue(libsysdb);
        assertThat(new String(b.manifest(), StandardCharsets.UTF_8))
                .contains("loader.entrypoint.sha256 = \"" + libsysdb + "\"");
        String sgx = Files.readString(r.dir().resolve(Bundle.MANIFEST_SGX));
        assertThat(sgx).contains("[loader.entrypoint]", "sha256 = \"" + libsysdb + "\"", "[sgx.cpu_features]",
                "enable_stats = false");
        // The recorded MRENCLAVE is the measurement of those bytes with that libpal.so.
        GramineInstall.Pal pal = GramineInstall.locate(FAKE.resolve("usr")).pal();
        byte[] again = GramineEnclave.measure(Files.readAllBytes(r.dir().resolve(Bundle.MANIFEST_SGX)), 1L << 30, 8,
                false, pal.image(), pal.bytes()).mrenclave();
        assertThat(HexFormat.of().formatHex(again)).isEqualTo(r.mrenclave().get());
        assertThat(Bundle.treeDigest(r.dir())).isEqualTo(r.treeDigest());
        b.verify();
    }

    @Test
    void signingSignsMrenclaveAndVerifyChecksIt() throws Exception {
        Bundle b = Bundle.open(BundleBuilder.build(options(), tmp.resolve("b"), false).dir());
        RSAPrivateCrtKey key = SignerKeys.readPrivate(Files.readAllBytes(FAKE.resolve("test-signer-key.pem")), "k");
        Sigstruct overMeasurement = Sigstruct.unsigned(HexFormat.of().parseHex(b.measurement()), 0, 0,
                Optional.empty()).sign(key, SignerKeys.publicOf(key));
        Files.write(b.dir().resolve(Bundle.SIGNATURE), overMeasurement.toBytes());
        assertThatThrownBy(() -> Bundle.open(b.dir()).verify()).isInstanceOf(BundleException.class)
                .hasMessageContaining("not this bundle's MRENCLAVE " + b.mrenclave().get());
        Sigstruct overMrenclave = Sigstruct.unsigned(HexFormat.of().parseHex(b.enclaveHash()), 0, 0,
                Optional.empty()).sign(key, SignerKeys.publicOf(key));
        Files.write(b.dir().resolve(Bundle.SIGNATURE), overMrenclave.toBytes());
        Bundle.open(b.dir()).verify();
    }

    @Test
    void aModifiedOrStrayManifestSgxIsDenied() throws Exception {
        Path dir = BundleBuilder.build(options(), tmp.resolve("b"), false).dir();
        Path sgx = dir.resolve(Bundle.MANIFEST_SGX);
        Files.writeString(sgx, Files.readString(sgx).replace("max_threads = 8", "max_threads = 9"));
        assertThatThrownBy(() -> Bundle.open(dir)).isInstanceOf(BundleException.class)
                .hasMessageContaining(Bundle.MANIFEST_SGX)
                .extracting(e -> ((BundleException) e).kind()).isEqualTo(CloisterException.Kind.DENIED);

        Path plain = BundleBuilder.build(BuildOptions.dir(app, "run.sh"), tmp.resolve("p"), false).dir();
        assertThat(Bundle.open(plain).mrenclave()).isEmpty();
        Files.writeString(plain.resolve(Bundle.MANIFEST_SGX), "[sgx]\n");
        assertThatThrownBy(() -> Bundle.open(plain)).isInstanceOf(BundleException.class)
                .hasMessageContaining("records no Gramine measurement");
    }

    @Test
    void badInstallationOrEnclaveSizeIsBadInputAndWritesNothing() throws Exception {
        Path out = tmp.resolve("out/b");
        assertThatThrownBy(() -> BundleBuilder.build(BuildOptions.dir(app, "run.sh")
                .withGramine(Optional.of(tmp.resolve("nowhere"))), out, false))
                .isInstanceOf(BundleException.class).hasMessageContaining("is not a Gramine installation")
                .extracting(e -> ((BundleException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT);
        assertThatThrownBy(() -> BundleBuilder.build(options().withSgx("768M", 8, 0, 0), out, false))
                .isInstanceOf(BundleException.class).hasMessageContaining("not a power of two");
        // A key broker needs Gramine's secret-provisioning library from the installation.
        Path partial = tmp.resolve("partial");
        Files.createDirectories(partial.resolve("sgx"));
        Files.copy(GramineSignCompatTest.LIB.resolve("sgx/libpal.so"), partial.resolve("sgx/libpal.so"));
        Files.copy(GramineSignCompatTest.LIB.resolve("libsysdb.so"), partial.resolve("libsysdb.so"));
        Path ca = tmp.resolve("ca.pem");
        Files.writeString(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        assertThatThrownBy(() -> BundleBuilder.build(BuildOptions.dir(app, "run.sh")
                .withBroker(Optional.of(ca), Optional.empty()).withGramine(Optional.of(partial)), out, false))
                .isInstanceOf(BundleException.class).hasMessageContaining("libsecret_prov_attest.so");
        assertThat(Files.exists(out)).isFalse();
        try (var s = Files.list(out.getParent())) {
            assertThat(s.toList()).isEmpty();
        }
    }

    @Test
    void withAKeyBrokerTheRuntimeLibraryIsHashedFromTheInstallation() throws Exception {
        Path ca = tmp.resolve("ca.pem");
        Files.writeString(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        Bundle b = Bundle.open(BundleBuilder.build(options().withBroker(Optional.of(ca), Optional.empty()),
                tmp.resolve("b"), false).dir());
        String lib = GramineInstall.sha256(GramineSignCompatTest.LIB.resolve("runtime/glibc/libsecret_prov_attest.so"));
        assertThat(Files.readString(b.dir().resolve(Bundle.MANIFEST_SGX)))
                .contains("uri = \"file:" + BuildOptions.DEFAULT_GRAMINE_LIB + "/runtime/glibc/libsecret_prov_attest.so\"\n"
                        + "sha256 = \"" + lib + "\"");
        assertThat(Files.readString(b.dir().resolve(Bundle.DESCRIPTOR))).contains("\"hostHashes\"", lib);
    }
}
