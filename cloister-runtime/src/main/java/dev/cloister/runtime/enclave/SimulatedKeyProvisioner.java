package dev.cloister.runtime.enclave;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.HpkeSuite;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.ReleaseBinding;
import dev.cloister.pf.PfKey;
import java.util.Arrays;
import java.util.Base64;

/**
 * Obtains the job key with simulated SGX evidence: a quote from Cloister's published simulation PKI stating the
 * measured identity, bound to the broker's nonce, a fresh HPKE key and the job record's hash, relayed through the
 * host. As on hardware,
 * the enclave states what to quote and the host's (simulated) quoting enclave signs it
 * ({@link SimulatedQuotingEnclave}). The broker accepts the quote only under a policy that allows simulation, and its
 * audit log records it as simulated.
 */
public final class SimulatedKeyProvisioner implements KeyProvisioner {
    public SimulatedKeyProvisioner() {}

    @Override
    public PfKey obtain(EnclavePlan.KeyRequest request, SgxMeasurements identity, byte[] recordHash, HostChannel host)
            throws CloisterException {
        String[] ns = request.secret().split("/", 2);
        if (ns.length != 2) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "key request names secret '" + request.secret() + "', not NAMESPACE/NAME");
        }
        byte[] nonce;
        try {
            nonce = Base64.getDecoder().decode(request.nonce());
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "key request nonce is not base64");
        }
        HpkeSuite kem = HpkeSuite.X25519;
        var kp = kem.generateKeyPair();
        byte[] pk = kem.publicKey(kp);
        byte[] reportData = ReleaseBinding.reportData(nonce, pk, recordHash);
        JsonNode q = host.ask("quote", SimulatedQuotingEnclave.request(identity, reportData));
        byte[][] evidence;
        try {
            evidence = new byte[][] {Base64.getDecoder().decode(q.path("quote").asText()),
                Base64.getDecoder().decode(q.path("collateral").asText())};
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "host's quote is not base64");
        }
        JsonNode reply = host.ask("release", KbsClient.releaseRequest(ns[0], ns[1], null, nonce, evidence, kem, pk));
        KbsClient.Released r = KbsClient.openRelease(reply, ns[0], ns[1], kem, kp);
        try {
            return PfKey.of(r.value());
        } finally {
            Arrays.fill(r.value(), (byte) 0);
        }
    }
}
