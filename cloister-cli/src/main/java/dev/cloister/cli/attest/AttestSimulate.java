package dev.cloister.cli.attest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.sim.SimulatedEvidence;
import dev.cloister.attestation.sim.Simulator;
import dev.cloister.cli.Json;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import java.io.PrintWriter;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cloister attest simulate}: simulated SGX/TDX evidence for machines without the hardware. */
@Command(
        name = "simulate",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Write a simulated SGX or TDX quote and its collateral (protects nothing).",
        description = {
            "Issues a structurally real DCAP quote (SGX v3; TDX v4, or v5 when --mr-service-td is set) and its "
                    + "QuoteCollateralV3 JSON, valid for 30 days from --at, under Cloister's simulation PKI. That PKI "
                    + "is derived from a published seed: anyone can forge such evidence, so it proves nothing.",
            "",
            "'cloister attest verify' checks simulated quotes like real ones and reports simulated=true; every policy "
                    + "denies them unless it says SIM:ALLOW (YAML: allow-simulated: true)."
        },
        footerHeading = "%nExamples:%n",
        footer = {
            "  cloister attest simulate --tee sgx --mrenclave <64 hex> --mrsigner <64 hex> --isv-svn 3 \\",
            "      --report-data <hex> --out-quote q.bin --out-collateral c.json",
            "  cloister attest verify --quote q.bin --collateral c.json --policy 'SIM:ALLOW SVN:3'",
            "",
            "Exit status: 0 written, 2 usage, 3 bad input or an output exists (use --force)."
        })
public final class AttestSimulate implements Callable<Integer> {
    private static final HexFormat HEX = HexFormat.of();

    /** The TEE types simulation supports. */
    enum Tee { sgx, tdx }

    @Option(names = "--tee", required = true, paramLabel = "sgx|tdx", description = "Which TEE to simulate.")
    Tee tee;

    @Option(names = "--mrenclave", paramLabel = "HEX", description = "SGX: 32-byte MRENCLAVE. Default: zero.")
    String mrEnclave;

    @Option(names = "--mrsigner", paramLabel = "HEX", description = "SGX: 32-byte MRSIGNER. Default: zero.")
    String mrSigner;

    @Option(names = "--isv-prod-id", paramLabel = "N", defaultValue = "0",
            description = "SGX: ISVPRODID (default: ${DEFAULT-VALUE}).")
    int isvProdId;

    @Option(names = "--isv-svn", paramLabel = "N", defaultValue = "0",
            description = "SGX: ISVSVN (default: ${DEFAULT-VALUE}).")
    int isvSvn;

    @Option(names = "--mrtd", paramLabel = "HEX", description = "TDX: 48-byte MRTD. Default: zero.")
    String mrTd;

    @Option(names = "--mr-config-id", paramLabel = "HEX", description = "TDX: 48-byte MRCONFIGID. Default: zero.")
    String mrConfigId;

    @Option(names = "--mr-service-td", paramLabel = "HEX",
            description = "TDX: 48-byte MR_SERVICETD; non-zero gives a v5 quote with TD report 1.5. Default: zero.")
    String mrServiceTd;

    @Option(names = "--debug", description = "Mark the enclave or TD as debug (SGX ATTRIBUTES.DEBUG, TD DEBUG).")
    boolean debug;

    @Option(names = "--report-data", paramLabel = "HEX",
            description = "Up to 64 bytes bound into the quote, zero-padded on the right. Default: zero.")
    String reportData;

    @Option(names = "--tcb-status", paramLabel = "STATUS", defaultValue = "UpToDate",
            description = "TCB status the collateral gives (Intel spelling; default: ${DEFAULT-VALUE}).")
    String tcbStatus;

    @Option(names = "--at", paramLabel = "TIME",
            description = "Issue time: ISO-8601 or Unix seconds. Default: now. The collateral is valid 30 days.")
    String at;

    @Option(names = "--out-quote", required = true, paramLabel = "FILE", description = "Where to write the quote.")
    Path outQuote;

    @Option(names = "--out-collateral", required = true, paramLabel = "FILE",
            description = "Where to write the collateral (QuoteCollateralV3 JSON).")
    Path outCollateral;

    @Option(names = "--force", description = "Replace existing output files.")
    boolean force;

    @Option(names = "--json", description = "Print {teeType, quote, collateral, quoteBytes, validFrom, validUntil,"
            + " simulated} as JSON.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Instant t = EvidenceInput.time(at);
        TcbStatus status;
        try {
            status = TcbStatus.fromIntelName(tcbStatus);
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "--tcb-status: " + e.getMessage());
        }
        byte[] rd = Arrays.copyOf(hex("--report-data", reportData, 0, 64), 64);
        Simulator sim = Simulator.standard();
        SimulatedEvidence ev;
        if (tee == Tee.sgx) {
            byte[] attrs = new byte[16];
            attrs[0] = (byte) (0x01 | 0x04 | (debug ? 0x02 : 0)); // INIT, MODE64BIT, and DEBUG when asked
            attrs[8] = 0x03; // XFRM: x87 and SSE
            SgxMeasurements m = new SgxMeasurements(hex("--mrenclave", mrEnclave, 32, 32),
                    hex("--mrsigner", mrSigner, 32, 32), range("--isv-prod-id", isvProdId),
                    range("--isv-svn", isvSvn), attrs, debug);
            ev = sim.sgxQuote(m, rd, status, t);
        } else {
            long attrs = (1L << 28) | (debug ? 1L : 0L); // SEPT_VE_DISABLE on, as production policies require
            byte[] a = new byte[8];
            for (int i = 0; i < 8; i++) a[i] = (byte) (attrs >>> (8 * i));
            TdxMeasurements m = new TdxMeasurements(hex("--mrtd", mrTd, 48, 48), new byte[48], new byte[48],
                    new byte[48], new byte[48], hex("--mr-config-id", mrConfigId, 48, 48), new byte[48],
                    hex("--mr-service-td", mrServiceTd, 48, 48), a, new byte[16], debug);
            ev = sim.tdxQuote(m, rd, status, t);
        }
        if (!force) {
            for (Path p : new Path[] {outQuote, outCollateral}) {
                if (Files.exists(p)) {
                    throw new FileAlreadyExistsException(p.toString());
                }
            }
        }
        AtomicFiles.writeBytes(outQuote, force, ev.quote());
        AtomicFiles.writeBytes(outCollateral, force, ev.collateral());
        PrintWriter out = spec.commandLine().getOut();
        Instant until = t.plus(Duration.ofDays(30));
        if (json) {
            ObjectNode o = Json.object();
            o.put("teeType", tee.name().toUpperCase(Locale.ROOT));
            o.put("quote", outQuote.toString());
            o.put("collateral", outCollateral.toString());
            o.put("quoteBytes", ev.quote().length);
            o.put("validFrom", t.toString());
            o.put("validUntil", until.toString());
            o.put("simulated", true);
            Json.print(out, o);
        } else {
            out.println("wrote SIMULATED " + tee.name().toUpperCase(Locale.ROOT) + " quote (" + ev.quote().length
                    + " bytes) to " + outQuote + " and its collateral to " + outCollateral);
            out.println("valid " + t + " .. " + until + "; simulated evidence protects nothing and every policy"
                    + " denies it unless it says SIM:ALLOW");
            out.flush();
        }
        return 0;
    }

    private static byte[] hex(String option, String v, int min, int max) throws CloisterException {
        if (v == null) {
            return new byte[max];
        }
        byte[] b;
        try {
            b = HEX.parseHex(v.toLowerCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, option + " '" + v + "' is not hex");
        }
        if (b.length < min || b.length > max) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, option + " must be "
                    + (min == max ? max + " bytes" : "at most " + max + " bytes") + ", got " + b.length);
        }
        return b;
    }

    private static int range(String option, int v) throws CloisterException {
        if (v < 0 || v > 0xffff) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, option + " " + v + " is outside 0..65535");
        }
        return v;
    }
}
