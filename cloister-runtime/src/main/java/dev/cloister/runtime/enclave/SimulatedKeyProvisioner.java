package dev.cloister.runtime.enclave;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.sim.SimulatedEvidence;
import dev.cloister.attestation.sim.Simulator;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.HpkeSuite;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.ReleaseBinding;
import dev.cloister.pf.PfKey;
import java.time.Clock;
import java.util.Arrays;
import java.util.Base64;

/**
 * Obtains the job key with simulated SGX evidence: a quote from Cloister's published simulation PKI stating the
 * measured identity, bound to the broker's nonce and a fresh HPKE key, relayed through the host. The broker
 * accepts it only under a policy that allows simulation, and its audit log records it as simulated.
 */
public final class SimulatedKeyProvisioner implements KeyProvisioner {
    private final Clock clock;
    /** The first evidence this enclave made; later releases rebind it (one signature each, collateral reused). */
    private SimulatedEvidence first;
    private SgxMeasurements firstIdentity;

    public SimulatedKeyProvisioner(Clock clock) {
        this.clock = clock;
    }

    @Override
    public PfKey obtain(EnclavePlan.KeyRequest request, SgxMeasurements identity, HostChannel host)
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
        byte[] reportData = ReleaseBinding.reportData(nonce, pk);
        SimulatedEvidence ev;
        if (first != null && identity == firstIdentity) {
            ev = Simulator.standard().rebind(first, reportData);
        } else {
            ev = Simulator.standard().sgxQuote(identity, reportData, TcbStatus.UP_TO_DATE, clock.instant());
            first = ev;
            firstIdentity = identity;
        }
        JsonNode reply = host.ask("release", KbsClient.releaseRequest(ns[0], ns[1], null, nonce,
                new byte[][] {ev.quote(), ev.collateral()}, kem, pk));
        KbsClient.Released r = KbsClient.openRelease(reply, ns[0], ns[1], kem, kp);
        try {
            return PfKey.of(r.value());
        } finally {
            Arrays.fill(r.value(), (byte) 0);
        }
    }
}
