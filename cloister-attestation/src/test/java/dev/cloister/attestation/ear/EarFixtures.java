package dev.cloister.attestation.ear;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.VerifiedEvidence;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;

/** Shared test data: a fresh P-256 signer and SGX evidence. */
final class EarFixtures {
    static final Instant NOW = Instant.parse("2026-12-08T00:00:00Z");

    private EarFixtures() {
    }

    static EarSigner newSigner() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair kp = g.generateKeyPair();
        return new EarSigner((ECPublicKey) kp.getPublic(), (ECPrivateKey) kp.getPrivate());
    }

    static VerifiedEvidence sgx(TcbStatus tcb, boolean simulated, boolean debug) {
        byte[] mr = new byte[32];
        Arrays.fill(mr, (byte) 0xab);
        byte[] rd = new byte[64];
        rd[0] = 7;
        return new VerifiedEvidence(TeeType.SGX, 3, tcb, List.of("INTEL-SA-00001"),
                new SgxMeasurements(mr, new byte[32], 1, 3, new byte[16], debug), rd, NOW, NOW.plusSeconds(86400),
                simulated ? "Cloister simulation root" : "Intel SGX Root CA", simulated);
    }
}
