package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The stored self-signed certificate of {@code kbs serve --tls-self-signed}. */
class TlsTest {
    @TempDir Path dir;

    @Test
    void theSelfSignedCertificateIsMadeOnceAndReused() throws Exception {
        Path cert = dir.resolve("kbs-cert.pem");
        Path key = dir.resolve("kbs-tls-key.pem");
        Instant now = Instant.now();
        Tls first = Tls.selfSignedStored(cert, key, now);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key))).isEqualTo("rw-------");
        Tls again = Tls.selfSignedStored(cert, key, now.plus(Duration.ofDays(100)));
        // Before, every start made a new one and every client had to pin it again.
        assertThat(again.chain()[0].getEncoded()).isEqualTo(first.chain()[0].getEncoded());
        assertThat(again.key().getEncoded()).isEqualTo(first.key().getEncoded());
        // Close to expiry it is renewed.
        Tls renewed = Tls.selfSignedStored(cert, key, now.plus(Duration.ofDays(340)));
        assertThat(renewed.chain()[0].getEncoded()).isNotEqualTo(first.chain()[0].getEncoded());
        assertThat(Tls.readCertificates(cert)[0]).isEqualTo(renewed.chain()[0]);
    }

    @Test
    void aKeyOthersCanReadIsRefusedAndAMismatchedPairReplaced() throws Exception {
        Path cert = dir.resolve("kbs-cert.pem");
        Path key = dir.resolve("kbs-tls-key.pem");
        Tls first = Tls.selfSignedStored(cert, key, Instant.now());
        Files.writeString(cert, Tls.selfSigned(Instant.now()).certificatePem());
        Tls fixed = Tls.selfSignedStored(cert, key, Instant.now());
        assertThat(fixed.key().getEncoded()).isNotEqualTo(first.key().getEncoded());
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> Tls.selfSignedStored(cert, key, Instant.now()))
                .hasMessageContaining("is accessible to others (mode rw-r--r--)");
    }
}
