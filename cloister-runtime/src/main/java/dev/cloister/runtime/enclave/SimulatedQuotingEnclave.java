package dev.cloister.runtime.enclave;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.sim.SimulatedEvidence;
import dev.cloister.attestation.sim.Simulator;
import dev.cloister.core.CloisterException;
import java.time.Clock;
import java.util.Base64;
import java.util.HexFormat;

/**
 * The simulation backend's quoting enclave. On SGX hardware an enclave makes a report and the host's quoting
 * enclave signs it into a quote; here the host signs a quote of the identity and report data the launcher states,
 * with Cloister's published simulation PKI. That is no weaker than signing inside the launcher: the simulation's
 * keys are public, and every verifier rejects the result unless its policy allows simulation.
 *
 * <p>Doing it on the host lets the simulation PKI warm up while the launcher's JVM is still starting: building it
 * (certificates, CRLs, signed collateral) is most of what a simulated key release costs in a cold JVM.
 */
public final class SimulatedQuotingEnclave {
    private static final HexFormat HEX = HexFormat.of();

    private final Clock clock;
    /** The first evidence made for this enclave; later quotes of the same identity rebind it (one signature each). */
    private SimulatedEvidence first;
    private String firstIdentity;

    public SimulatedQuotingEnclave(Clock clock) {
        this.clock = clock;
        Thread.ofPlatform().daemon().name("cloister-sim-qe-warmup").start(SimulatedQuotingEnclave::warmUp);
    }

    private static void warmUp() {
        try {
            Simulator.standard().sgxQuote(new SgxMeasurements(new byte[32], new byte[32], 0, 0, new byte[16], false),
                    new byte[64], TcbStatus.UP_TO_DATE, java.time.Instant.EPOCH.plusSeconds(1_000_000_000L));
        } catch (RuntimeException e) {
            // Only a warm-up: a real request reports any failure itself.
        }
    }

    /**
     * Answers the launcher's "quote" request: {@code mrenclave}, {@code mrsigner}, {@code attributes} (hex),
     * {@code isvprodid}, {@code isvsvn}, {@code debug}, {@code reportdata} (base64, 64 bytes).
     *
     * @return {@code quote} and {@code collateral}, base64
     * @throws CloisterException BAD_INPUT for a malformed request
     */
    public synchronized ObjectNode quote(JsonNode body) throws CloisterException {
        SgxMeasurements id;
        byte[] reportData;
        try {
            id = new SgxMeasurements(HEX.parseHex(body.path("mrenclave").asText()),
                    HEX.parseHex(body.path("mrsigner").asText()), body.path("isvprodid").asInt(),
                    body.path("isvsvn").asInt(), HEX.parseHex(body.path("attributes").asText()),
                    body.path("debug").asBoolean());
            reportData = Base64.getDecoder().decode(body.path("reportdata").asText());
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "malformed quote request: " + e.getMessage());
        }
        if (reportData.length != 64) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "quote request has " + reportData.length + " bytes of report data, not 64");
        }
        String key = body.path("mrenclave").asText() + body.path("mrsigner").asText() + body.path("attributes").asText()
                + "/" + id.isvProdId() + "/" + id.isvSvn() + "/" + id.debug();
        SimulatedEvidence ev;
        if (first != null && key.equals(firstIdentity)) {
            ev = Simulator.standard().rebind(first, reportData);
        } else {
            ev = Simulator.standard().sgxQuote(id, reportData, TcbStatus.UP_TO_DATE, clock.instant());
            first = ev;
            firstIdentity = key;
        }
        ObjectNode r = HostChannel.object();
        r.put("quote", Base64.getEncoder().encodeToString(ev.quote()));
        r.put("collateral", Base64.getEncoder().encodeToString(ev.collateral()));
        return r;
    }

    /** The launcher's request for a quote of {@code identity} binding {@code reportData}. */
    public static ObjectNode request(SgxMeasurements identity, byte[] reportData) {
        ObjectNode b = HostChannel.object();
        b.put("mrenclave", HEX.formatHex(identity.mrEnclave()));
        b.put("mrsigner", HEX.formatHex(identity.mrSigner()));
        b.put("attributes", HEX.formatHex(identity.attributes()));
        b.put("isvprodid", identity.isvProdId());
        b.put("isvsvn", identity.isvSvn());
        b.put("debug", identity.debug());
        b.put("reportdata", Base64.getEncoder().encodeToString(reportData));
        return b;
    }
}
