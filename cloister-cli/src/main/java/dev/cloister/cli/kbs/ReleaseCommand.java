package dev.cloister.cli.kbs;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.cli.Json;
import dev.cloister.core.AtomicFiles;
import dev.cloister.kbs.HpkeSuite;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.KbsException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HexFormat;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister kbs release}: the workload side of the release protocol. */
@Command(name = "release", mixinStandardHelpOptions = true, usageHelpAutoWidth = true, sortOptions = false,
        header = "Obtain a secret from the broker by attestation (run inside the workload).",
        description = {
            "Asks the broker for a nonce, makes a fresh HPKE key pair, obtains evidence whose report data is "
                    + "SHA-256(nonce || public key) padded to 64 bytes, sends it, and opens the sealed answer.",
            "",
            "Evidence comes from Gramine's /dev/attestation (write user_report_data, read quote) or, for tests "
                    + "and demos, from Cloister's simulator (--simulate), which brokers reject unless the policy "
                    + "says SIM:ALLOW."
        },
        footer = {"%nExample (inside a Gramine enclave):",
            "  cloister kbs release alice/pf --out /dev/attestation/keys/default --force"})
public final class ReleaseCommand implements Callable<Integer> {
    @Mixin
    ClientOptions client;

    @Parameters(paramLabel = "NS/NAME", description = "Namespace and secret name.")
    String target;

    @Option(names = "--secret-version", paramLabel = "N", description = "A specific version (default: newest active).")
    Integer version;

    @Option(names = "--kem", paramLabel = "KEM", defaultValue = "X25519",
            description = "HPKE KEM: X25519 or P256 (default: ${DEFAULT-VALUE}).")
    String kem;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Write the secret's raw bytes here.")
    Path out;

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @Option(names = "--json", description = "Print {namespace, secret, version, kind, file}.")
    boolean json;

    static final class Source {
        @Option(names = "--attestation-dir", paramLabel = "DIR",
                description = "Gramine's attestation pseudo-filesystem (default: /dev/attestation).")
        Path attestationDir;

        @ArgGroup(exclusive = false)
        Sim sim;
    }

    static final class Sim {
        @Option(names = "--simulate", required = true,
                description = "Use Cloister's simulated SGX evidence (never accepted without SIM:ALLOW).")
        boolean simulate;

        @Option(names = "--mrenclave", required = true, paramLabel = "HEX", description = "Simulated MRENCLAVE.")
        String mrEnclave;

        @Option(names = "--mrsigner", required = true, paramLabel = "HEX", description = "Simulated MRSIGNER.")
        String mrSigner;

        @Option(names = "--isv-prod-id", defaultValue = "0", paramLabel = "N", description = "Simulated ISVPRODID.")
        int prodId;

        @Option(names = "--isv-svn", defaultValue = "0", paramLabel = "N", description = "Simulated ISVSVN.")
        int svn;

        @Option(names = "--debug-enclave", description = "Simulate a debug enclave.")
        boolean debug;

        @Option(names = "--tcb", defaultValue = "UpToDate", paramLabel = "STATUS",
                description = "Simulated TCB status, Intel spelling (default: ${DEFAULT-VALUE}).")
        String tcb;
    }

    @ArgGroup(exclusive = true)
    Source source;

    @Option(names = "--collateral", paramLabel = "FILE", description = "Collateral to send with hardware evidence.")
    Path collateral;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Names n = Names.parse(target);
        HpkeSuite suite = HpkeSuite.parse(kem);
        KbsClient.EvidenceSource evidence;
        if (source != null && source.sim != null) {
            Sim s = source.sim;
            SgxMeasurements m = simulated(s);
            TcbStatus status;
            try {
                status = TcbStatus.fromIntelName(s.tcb);
            } catch (IllegalArgumentException e) {
                throw KbsException.badRequest(e.getMessage());
            }
            evidence = rd -> Verifiers.simulatedSgx(m, rd, status, Instant.now());
        } else {
            Path dir = source != null && source.attestationDir != null ? source.attestationDir
                    : Path.of("/dev/attestation");
            byte[] coll = collateral == null ? null : Files.readAllBytes(collateral);
            evidence = rd -> {
                try {
                    Files.write(dir.resolve("user_report_data"), rd);
                    return new byte[][] {Files.readAllBytes(dir.resolve("quote")), coll};
                } catch (IOException e) {
                    throw new dev.cloister.core.CloisterException(dev.cloister.core.CloisterException.Kind.ENVIRONMENT,
                            "cannot get a quote from " + dir + ": " + e.getMessage()
                                    + " (not inside a Gramine SGX enclave? use --simulate for tests)");
                }
            };
        }
        KbsClient.Released r = client.client(false).release(n.namespace(), n.name(), version, suite, evidence);
        AtomicFiles.writeBytes(out, force, r.value());
        if (json) {
            var o = Json.object();
            o.put("namespace", r.namespace());
            o.put("secret", r.name());
            o.put("version", r.version());
            o.put("kind", r.kind().label());
            o.put("file", out.toString());
            Json.print(spec.commandLine().getOut(), o);
        } else {
            spec.commandLine().getOut().println("released " + target + " version " + r.version() + " ("
                    + r.kind().label() + ") to " + out);
        }
        return 0;
    }

    private static SgxMeasurements simulated(Sim s) throws KbsException {
        try {
            byte[] attrs = new byte[16];
            attrs[0] = (byte) (0x01 | 0x04 | (s.debug ? 0x02 : 0));
            attrs[8] = 0x03;
            return new SgxMeasurements(HexFormat.of().parseHex(s.mrEnclave), HexFormat.of().parseHex(s.mrSigner),
                    s.prodId, s.svn, attrs, s.debug);
        } catch (IllegalArgumentException e) {
            throw KbsException.badRequest("--mrenclave and --mrsigner must be 64 hex digits: " + e.getMessage());
        }
    }
}
