package dev.cloister.cli.attest;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.Policy;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.SnpMeasurements;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.Verdict;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.ear.EarSigner;
import dev.cloister.attestation.ear.Ears;
import dev.cloister.cli.Json;
import dev.cloister.core.CloisterException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;

/** Renders a verification outcome for people (stdout lines) or scripts (one JSON document). */
final class EvidenceReport {
    private static final HexFormat HEX = HexFormat.of();

    private EvidenceReport() {}

    /**
     * Prints the outcome and throws when it is not a success, so that the command line's one error path prints the
     * reason on stderr and picks the exit code.
     */
    static void finish(PrintWriter out, boolean json, VerifiedEvidence ev, Policy policy, Instant at)
            throws CloisterException {
        finish(out, json, ev, policy, at, null);
    }

    /** How long an EAR from {@code attest verify --ear} may be relied on, from the appraisal time. */
    static final Duration EAR_LIFETIME = Duration.ofMinutes(5);

    /**
     * As {@link #finish(PrintWriter, boolean, VerifiedEvidence, Policy, Instant)}, and when {@code ear} is given
     * also emits the signed EAR of this appraisal (for a denial too: its status is then contraindicated).
     */
    static void finish(PrintWriter out, boolean json, VerifiedEvidence ev, Policy policy, Instant at, EarSigner ear)
            throws CloisterException {
        Verdict verdict = policy.appraise(ev, at);
        String token = ear == null ? null : ear.sign(Ears.fromAppraisal(ev, verdict, policyId(policy),
                "cloister-cli", at, EAR_LIFETIME));
        if (json) {
            ObjectNode o = Json.object();
            o.put("ok", verdict.accepted());
            // a stable code for scripts; null when accepted (the field is always present)
            o.put("reason", verdict.accepted() ? null : verdict.reason().name());
            evidence(o, ev);
            o.put("at", at.toString());
            ObjectNode p = o.putObject("policy");
            p.put("text", policy.toText());
            p.put("accepted", verdict.accepted());
            ArrayNode reasons = p.putArray("reasons");
            verdict.reasons().forEach(reasons::add);
            if (token != null) {
                o.put("ear", token);
            }
            Json.print(out, o);
        } else {
            human(out, ev, verdict, policy);
            if (token != null) {
                out.println("ear:         " + token);
                out.flush();
            }
        }
        if (!verdict.accepted()) {
            throw new CloisterException(CloisterException.Kind.DENIED, "policy denied the evidence: "
                    + verdict.explanation());
        }
    }

    /** {@code ear.appraisal-policy-id}: the SHA-256 of the policy's canonical text, so equal policies share it. */
    static String policyId(Policy policy) {
        try {
            return "cloister:policy:sha256:" + HEX.formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(policy.toText().getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Verification itself failed: JSON says why (stdout) before the error line goes to stderr. */
    static void failed(PrintWriter out, boolean json, EvidenceException e, Instant at) {
        if (json) {
            ObjectNode o = Json.object();
            o.put("ok", false);
            o.put("status", switch (e.kind()) {
                case DENIED -> "Rejected";
                case BAD_INPUT -> "Malformed";
                case ENVIRONMENT -> "Unavailable";
            });
            o.put("reason", e.reason().name());
            o.put("error", e.getMessage());
            o.put("at", at.toString());
            Json.print(out, o);
        }
    }

    private static void evidence(ObjectNode o, VerifiedEvidence ev) {
        o.put("status", ev.tcbStatus().intelName());
        ArrayNode adv = o.putArray("advisoryIds");
        ev.advisoryIds().forEach(adv::add);
        o.put("teeType", ev.teeType().name());
        o.put("quoteVersion", ev.version());
        ObjectNode m = o.putObject("measurements");
        switch (ev.measurements()) {
            case SgxMeasurements s -> {
                m.put("mrenclave", HEX.formatHex(s.mrEnclave()));
                m.put("mrsigner", HEX.formatHex(s.mrSigner()));
                m.put("isvProdId", s.isvProdId());
                m.put("isvSvn", s.isvSvn());
                m.put("attributes", HEX.formatHex(s.attributes()));
                m.put("debug", s.debug());
            }
            case TdxMeasurements t -> {
                m.put("mrtd", HEX.formatHex(t.mrTd()));
                m.put("rtmr0", HEX.formatHex(t.rtmr0()));
                m.put("rtmr1", HEX.formatHex(t.rtmr1()));
                m.put("rtmr2", HEX.formatHex(t.rtmr2()));
                m.put("rtmr3", HEX.formatHex(t.rtmr3()));
                m.put("mrConfigId", HEX.formatHex(t.mrConfigId()));
                m.put("mrOwner", HEX.formatHex(t.mrOwner()));
                m.put("mrServiceTd", HEX.formatHex(t.mrServiceTd()));
                m.put("tdAttributes", HEX.formatHex(t.tdAttributes()));
                m.put("teeTcbSvn", HEX.formatHex(t.teeTcbSvn()));
                m.put("debug", t.debug());
            }
            case SnpMeasurements s -> {
                m.put("measurement", HEX.formatHex(s.measurement()));
                m.put("hostData", HEX.formatHex(s.hostData()));
                m.put("policy", String.format("0x%x", s.policy()));
                m.put("reportedTcb", String.format("%016x", s.reportedTcb()));
                m.put("vmpl", s.vmpl());
                m.put("debug", s.debug());
            }
        }
        m.put("reportData", HEX.formatHex(ev.reportData()));
        ObjectNode c = o.putObject("collateral");
        c.put("issued", ev.collateralIssued().toString());
        c.put("nextUpdate", ev.collateralNextUpdate().toString());
        o.put("rootUsed", ev.rootUsed());
        o.put("simulated", ev.simulated());
    }

    private static void human(PrintWriter out, VerifiedEvidence ev, Verdict verdict, Policy policy) {
        String kind = switch (ev.teeType()) {
            case SGX -> "SGX quote v";
            case TDX -> "TDX quote v";
            case SEV_SNP -> "SEV-SNP report v";
        };
        out.println("evidence:    " + kind + ev.version() + (ev.simulated() ? " (SIMULATED)" : ""));
        out.println("root:        " + ev.rootUsed());
        out.println("tcb status:  " + ev.tcbStatus().intelName()
                + (ev.advisoryIds().isEmpty() ? "" : " " + ev.advisoryIds()));
        out.println("collateral:  " + ev.collateralIssued() + " .. " + ev.collateralNextUpdate());
        switch (ev.measurements()) {
            case SgxMeasurements s -> {
                out.println("mrenclave:   " + HEX.formatHex(s.mrEnclave()));
                out.println("mrsigner:    " + HEX.formatHex(s.mrSigner()));
                out.println("isvprodid:   " + s.isvProdId() + "  isvsvn: " + s.isvSvn() + "  debug: " + s.debug());
            }
            case TdxMeasurements t -> {
                out.println("mrtd:        " + HEX.formatHex(t.mrTd()));
                out.println("rtmr0:       " + HEX.formatHex(t.rtmr0()));
                out.println("rtmr1:       " + HEX.formatHex(t.rtmr1()));
                out.println("rtmr2:       " + HEX.formatHex(t.rtmr2()));
                out.println("rtmr3:       " + HEX.formatHex(t.rtmr3()));
                out.println("tdattributes:" + HEX.formatHex(t.tdAttributes()) + "  debug: " + t.debug());
            }
            case SnpMeasurements s -> {
                out.println("measurement: " + HEX.formatHex(s.measurement()));
                out.println(String.format("policy:      0x%x  vmpl: %d  reported tcb: %016x  debug: %s", s.policy(),
                        s.vmpl(), s.reportedTcb(), s.debug()));
            }
        }
        out.println("report data: " + HEX.formatHex(ev.reportData()));
        out.println("policy:      " + policy.toText());
        out.println("verdict:     " + (verdict.accepted() ? "accepted" : "DENIED"));
        verdict.reasons().forEach(r -> out.println("  - " + r));
        out.flush();
    }
}
