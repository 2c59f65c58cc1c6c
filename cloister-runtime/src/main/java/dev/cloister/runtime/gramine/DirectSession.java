package dev.cloister.runtime.gramine;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.HpkeSuite;
import dev.cloister.kbs.KbsClient;
import dev.cloister.runtime.enclave.SimulatedQuotingEnclave;
import dev.cloister.runtime.job.Broker;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The worker's side of one {@code gramine-direct} run: starts Gramine, answers the launcher inside it (the
 * protocol is described in {@code cloister-launcher.c}) by having the simulated quoting enclave sign the identity
 * and report data the launcher states and relaying the release request to the broker, and reads Gramine's console
 * for what Gramine refused. The worker sees no key: the broker seals it to a key pair made inside Gramine.
 *
 * <p>Everything here is SIMULATED attestation: gramine-direct has no SGX, so the evidence comes from Cloister's
 * public simulation root and the broker releases the key only under a policy that says {@code SIM:ALLOW}.
 */
class DirectSession {
    private static final HexFormat HEX = HexFormat.of();
    private static final Pattern TAMPERED = Pattern.compile("Hash of trusted file '([^']+)' does not match");
    private static final Pattern DISALLOWED = Pattern.compile("Disallowing access to file '([^']+)'");
    private static final String LAUNCHER_SAYS = "cloister-launcher: ";
    /**
     * Gramine warnings that are routine at log level "warning" and would drown the rest: system calls a program
     * falls back from (rseq, mremap) and caches it tries to write into the read-only bundle (Python's .pyc files).
     * They are counted and summarised in one line instead.
     */
    private static final Pattern ROUTINE = Pattern.compile("warning: (Unsupported system call|Disallowing creating file)");

    /**
     * How the run ended.
     *
     * @param status Gramine's exit status (the program's, once the launcher exec'd it)
     * @param execed whether the launcher started the program
     * @param refusal the broker's (or the worker's) refusal the launcher was told, or null
     * @param refusalKind its kind, or null
     * @param inputRefused the enclave path of an input that did not authenticate, or null
     * @param launcherError the launcher's own last error line, or null
     * @param tampered files Gramine refused because their hash differs from the manifest's (as Gramine names them)
     * @param disallowed files Gramine refused because the manifest does not list them
     * @param console the last lines of the program's console (stdout and stderr), which the host sees anyway
     */
    record Outcome(int status, boolean execed, String refusal, CloisterException.Kind refusalKind, String inputRefused,
            String launcherError, List<String> tampered, List<String> disallowed, List<String> console) {}

    /** One key for the launcher to obtain and install as {@code /dev/attestation/keys/NAME}. */
    record Key(String name, String secret, byte[] nonce) {}

    private final Broker broker;
    private final SimulatedQuotingEnclave quotingEnclave;
    private final String expectedMeasurement;
    private final Consumer<String> log;

    DirectSession(Broker broker, SimulatedQuotingEnclave quotingEnclave, String expectedMeasurement,
            Consumer<String> log) {
        this.broker = broker;
        this.quotingEnclave = quotingEnclave;
        this.expectedMeasurement = expectedMeasurement;
        this.log = log;
    }

    Outcome run(Path gramineDirect, GramineLaunch launch, String path, List<Key> keys)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        Path setpriv = Path.of("/usr/bin/setpriv");
        if (Files.isExecutable(setpriv)) {
            // Gramine dies with the worker (as bubblewrap's --die-with-parent does for sim): a Gramine left running
            // by a killed worker could otherwise still be writing into outputs/ when the job runs again.
            cmd.addAll(List.of(setpriv.toString(), "--pdeathsig", "KILL"));
        }
        cmd.addAll(List.of(gramineDirect.toString(), "entrypoint"));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(launch.dir().toFile());
        pb.environment().clear();
        pb.environment().put("PATH", path == null ? "/usr/bin:/bin" : path);
        String home = System.getProperty("user.home");
        if (home != null) {
            pb.environment().put("HOME", home);
        }
        Process p = pb.start();
        List<String> tampered = new ArrayList<>();
        List<String> disallowed = new ArrayList<>();
        Deque<String> console = new ArrayDeque<>();
        String[] launcherError = {null};
        int[] routine = {0};
        Thread err = Thread.ofPlatform().daemon().name("gramine-stderr").start(() -> {
            try (BufferedReader r = p.errorReader(StandardCharsets.UTF_8)) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (ROUTINE.matcher(line).find()) {
                        routine[0]++;
                        continue;
                    }
                    log.accept(line);
                    synchronized (console) {
                        Matcher m = TAMPERED.matcher(line);
                        if (m.find() && !tampered.contains(m.group(1))) {
                            tampered.add(m.group(1));
                        }
                        m = DISALLOWED.matcher(line);
                        if (m.find() && !disallowed.contains(m.group(1))) {
                            disallowed.add(m.group(1));
                        }
                        int at = line.indexOf(LAUNCHER_SAYS);
                        if (at >= 0) {
                            launcherError[0] = line.substring(at + LAUNCHER_SAYS.length());
                        }
                        keep(console, line);
                    }
                }
            } catch (IOException e) {
                // The process is gone; its status says what happened.
            }
        });
        boolean execed = false;
        String refusal = null;
        CloisterException.Kind refusalKind = null;
        String inputRefused = null;
        try (OutputStream raw = p.getOutputStream();
                PrintStream to = new PrintStream(raw, true, StandardCharsets.UTF_8);
                BufferedReader from = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (Key k : keys) {
                // No record hash: the launcher hashes the record file Gramine integrity-checked itself.
                to.println(keyLine(k));
            }
            to.println("go");
            for (String line; (line = from.readLine()) != null; ) {
                if (execed) {
                    log.accept(line);
                    synchronized (console) {
                        keep(console, line);
                    }
                    continue;
                }
                if (line.startsWith("release ")) {
                    Key k = null;
                    String[] f = line.split(" ");
                    for (Key x : keys) {
                        if (f.length > 1 && x.secret().equals(f[1])) {
                            k = x;
                        }
                    }
                    String reply;
                    try {
                        reply = release(f, k);
                        log.accept("launcher: the broker released " + k.secret() + " to the launcher inside Gramine "
                                + "[SIMULATED attestation]");
                    } catch (CloisterException e) {
                        refusal = e.getMessage();
                        refusalKind = e.kind();
                        reply = "refused " + e.kind().name() + " " + e.getMessage().replaceAll("[\\r\\n]+", " ");
                    }
                    to.println(reply);
                } else if (line.startsWith("input-refused ")) {
                    String[] f = line.split(" ");
                    inputRefused = f.length > 1 ? f[1] : "?";
                } else if (line.equals("exec")) {
                    execed = true;
                    to.close(); // the program reads no stdin: the launcher gave it /dev/null
                } else {
                    log.accept(line);
                    int at = line.indexOf(LAUNCHER_SAYS);
                    if (at >= 0) {
                        // Gramine may hand the launcher's stderr to the host's stdout: its last word either way.
                        synchronized (console) {
                            launcherError[0] = line.substring(at + LAUNCHER_SAYS.length());
                        }
                    }
                }
            }
        } finally {
            if (p.isAlive() && !p.waitFor(5, java.util.concurrent.TimeUnit.MINUTES)) {
                p.destroyForcibly();
            }
        }
        int status = p.waitFor();
        err.join(10_000);
        if (routine[0] > 0) {
            log.accept(routine[0] + " routine Gramine warning(s) not shown (system calls Gramine does not support and "
                    + "the program works around; files it tried to create in the bundle's read-only root, such as "
                    + "Python's .pyc caches)");
        }
        synchronized (console) {
            return new Outcome(status, execed, refusal, refusalKind, inputRefused, launcherError[0], List.copyOf(tampered),
                    List.copyOf(disallowed), List.copyOf(console));
        }
    }

    /** The host's key request line; a method so that a test can play a host that adds a record hash of its own. */
    String keyLine(Key k) {
        return "key " + k.name() + " " + k.secret() + " " + HEX.formatHex(k.nonce());
    }

    private static void keep(Deque<String> console, String line) {
        console.addLast(line);
        if (console.size() > 200) {
            console.removeFirst();
        }
    }

    /**
     * Answers {@code release SECRET MRENCLAVE ISVPRODID ISVSVN REPORTDATA PUBLICKEY}: a simulated quote of that
     * identity and report data, and the broker's sealed answer to the release request built around it.
     */
    private String release(String[] f, Key k) throws CloisterException {
        if (k == null || f.length != 7) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the launcher sent a malformed release request");
        }
        byte[] mr;
        byte[] reportData;
        byte[] pk;
        int prodId;
        int svn;
        try {
            mr = HEX.parseHex(f[2]);
            prodId = Integer.parseInt(f[3]);
            svn = Integer.parseInt(f[4]);
            reportData = HEX.parseHex(f[5]);
            pk = HEX.parseHex(f[6]);
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the launcher sent a malformed release request");
        }
        if (mr.length != 32 || reportData.length != 64 || pk.length != 32) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the launcher sent a malformed release request");
        }
        if (expectedMeasurement != null && !expectedMeasurement.equalsIgnoreCase(f[2])) {
            throw new CloisterException(CloisterException.Kind.DENIED, "the bundle inside Gramine measures " + f[2]
                    + ", not the " + expectedMeasurement + " the job expects");
        }
        String[] ns = k.secret().split("/", 2);
        if (ns.length != 2) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "secret " + k.secret() + " is not NAMESPACE/NAME");
        }
        SgxMeasurements id = new SgxMeasurements(mr, new byte[32], prodId, svn, new byte[16], false);
        JsonNode q = quotingEnclave.quote(SimulatedQuotingEnclave.request(id, reportData));
        byte[][] evidence = {Base64.getDecoder().decode(q.path("quote").asText()),
            Base64.getDecoder().decode(q.path("collateral").asText())};
        JsonNode r;
        try {
            r = broker.release(KbsClient.releaseRequest(ns[0], ns[1], null, k.nonce(), evidence, HpkeSuite.X25519, pk));
        } catch (IOException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "broker unreachable: " + e.getMessage());
        }
        try {
            return "sealed " + r.path("version").asInt() + " " + HEX.formatHex(Base64.getDecoder().decode(r.path("enc").asText()))
                    + " " + HEX.formatHex(Base64.getDecoder().decode(r.path("ciphertext").asText()));
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the broker's answer is not base64");
        }
    }
}
