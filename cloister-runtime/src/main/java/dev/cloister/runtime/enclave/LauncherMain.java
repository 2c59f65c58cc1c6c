package dev.cloister.runtime.enclave;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleSpec;
import dev.cloister.core.CloisterException;
import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

/**
 * The launcher's process entry point inside the simulated enclave. Its stdout is the host channel, so everything
 * else (logs, errors) goes to stderr, which the worker keeps as the launcher log: it never contains plaintext or
 * keys. Exit codes follow docs/cli.md (1 denied, 3 bad input, 4 environment, 70 internal).
 */
public final class LauncherMain {
    private LauncherMain() {}

    public static void main(String[] args) {
        PrintStream channelOut = new PrintStream(new FileOutputStream(FileDescriptor.out), true);
        System.setOut(System.err); // nothing but the channel may write to the real stdout
        // The first HPKE key pair costs a cold JVM a few hundred milliseconds of class loading and initialisation;
        // make it on the other core while this thread reads the plan and re-hashes the bundle.
        Thread.ofPlatform().daemon().name("cloister-hpke-warmup").start(() -> {
            try {
                dev.cloister.kbs.HpkeSuite.X25519.generateKeyPair();
            } catch (RuntimeException e) {
                // Only a warm-up: the real key pair reports any failure itself.
            }
        });
        int code;
        try {
            HostChannel host = new HostChannel(System.in, channelOut);
            // The host makes the plan while this JVM starts, and hands it over when asked.
            EnclavePlan plan = EnclavePlan.parse(HostChannel.json().writeValueAsBytes(
                    host.ask("plan", HostChannel.object())));
            EnclaveLauncher launcher = new EnclaveLauncher(LauncherMain::measure,
                    new SimulatedKeyProvisioner(), Files.createDirectories(Path.of(SimEnclave.MEMORY)));
            launcher.run(plan, Path.of(SimEnclave.OUT, "stdout.pf"), Path.of(SimEnclave.OUT, "stderr.pf"), host);
            code = 0; // the program's exit and any missing outputs travel in the "done" report, not as a failure
        } catch (CloisterException e) {
            System.err.println("launcher: " + e.getMessage());
            code = e.kind().exitCode();
        } catch (Exception e) {
            System.err.println("launcher: internal error: " + e);
            code = 70;
        }
        System.exit(code);
    }

    /**
     * Opens the bundle, re-hashes every file against its manifest, and states its identity and the program its
     * measured manifest starts.
     */
    static EnclaveLauncher.Program measure(Path dir) throws CloisterException {
        Bundle b = Bundle.open(dir);
        b.verify();
        byte[] signer = b.sigstruct().map(s -> s.mrSigner()).orElse(new byte[32]);
        SgxMeasurements id = new SgxMeasurements(HexFormat.of().parseHex(b.measurement()), signer, b.spec().isvProdId(),
                b.spec().isvSvn(), new byte[16], false);
        var argv = b.spec().argv();
        return new EnclaveLauncher.Program(id, dir.resolve(BundleSpec.ROOT).toString(), b.entrypoint(),
                argv.isEmpty() ? argv : argv.subList(1, argv.size()), b.spec().env(), "/");
    }
}
