package dev.cloister.cli.kbs;

import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.sim.SimulatedEvidence;
import dev.cloister.attestation.sim.Simulator;
import dev.cloister.attestation.snp.SnpVerifier;
import dev.cloister.kbs.TeeVerifier;
import java.time.Instant;

/** The evidence verifier the broker and {@code policy test} use, and the simulator for {@code release --simulate}. */
final class Verifiers {
    private Verifiers() {}

    /**
     * SGX and TDX quotes under Intel's pinned root only, or with {@code allowSimulation} also Cloister's simulation
     * root (simulated results still need SIM:ALLOW in a policy); SEV-SNP reports under AMD's pinned ARKs.
     */
    static EvidenceVerifier select(boolean allowSimulation) {
        return new TeeVerifier(allowSimulation ? DcapVerifier.withSimulation() : DcapVerifier.intelRoot(),
                SnpVerifier.amdRoots());
    }

    /**
     * As {@link #select(boolean)}, and with a PCCS (or Intel's PCS) the broker also fetches collateral itself,
     * caching it in {@code cache}, and keeps the verdict of the newer collateral (see {@link TeeVerifier}).
     */
    static EvidenceVerifier select(boolean allowSimulation, String pccs, java.nio.file.Path cache)
            throws dev.cloister.core.CloisterException {
        if (pccs == null) {
            return select(allowSimulation);
        }
        java.net.URI u;
        try {
            u = java.net.URI.create(pccs);
        } catch (IllegalArgumentException e) {
            u = null;
        }
        if (u == null || u.getHost() == null || !("https".equals(u.getScheme()) || "http".equals(u.getScheme()))) {
            throw new dev.cloister.core.CloisterException(dev.cloister.core.CloisterException.Kind.BAD_INPUT,
                    "--pccs '" + pccs + "' is not an http(s) URL");
        }
        DcapVerifier dcap = allowSimulation ? DcapVerifier.withSimulation() : DcapVerifier.intelRoot();
        return new TeeVerifier(dcap, dcap.withCollateralSource(
                dev.cloister.attestation.dcap.PcsCollateralProvider.online(pccs, cache)), SnpVerifier.amdRoots());
    }

    /** Simulated SGX evidence {quote, collateral} binding {@code reportData}. */
    static byte[][] simulatedSgx(SgxMeasurements m, byte[] reportData, TcbStatus status, Instant at) {
        SimulatedEvidence e = Simulator.standard().sgxQuote(m, reportData, status, at);
        return new byte[][] {e.quote(), e.collateral()};
    }
}
