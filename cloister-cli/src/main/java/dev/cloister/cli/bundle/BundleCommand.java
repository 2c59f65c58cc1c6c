package dev.cloister.cli.bundle;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleException;
import dev.cloister.bundle.ImageExport;
import dev.cloister.bundle.SignerKeys;
import dev.cloister.bundle.Sigstruct;
import dev.cloister.cli.Json;
import dev.cloister.cli.Progress;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code cloister bundle}: inspect, verify, sign and export enclave bundles. */
@Command(
        name = "bundle",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        header = "Inspect, verify, sign and export enclave bundles made by 'cloister build'.",
        description = {"A bundle is a directory: cloister.json, entrypoint.manifest (Gramine 1.9), entrypoint.sig "
                + "once signed, and root/ with every trusted file. See docs/bundles.md."},
        subcommands = {BundleCommand.Inspect.class, BundleCommand.Verify.class, BundleCommand.Keygen.class,
            BundleCommand.Sign.class, BundleCommand.ExportImage.class})
public final class BundleCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing subcommand (inspect, verify, keygen, sign, "
                + "export-image)");
    }

    /** {@code cloister bundle inspect}. */
    @Command(name = "inspect", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Show a bundle's measurement, signer, entrypoint, file count and size.",
            description = {"Checks that the manifest is the rendering of cloister.json and that the measurement "
                    + "is the manifest's; does not re-hash files (use 'cloister bundle verify')."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 shown, 1 the bundle contradicts itself, 3 not a bundle or malformed"})
    static final class Inspect implements Callable<Integer> {
        @Parameters(paramLabel = "BUNDLE", description = "The bundle directory.")
        Path dir;

        @Option(names = "--json", description = "One JSON object: name, version, entrypoint, argv, measurement, "
                + "mrenclave (Gramine's, or null if built without --gramine), mrsigner (or null), isvProdId, isvSvn, "
                + "files, bytes.")
        boolean json;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Bundle b = Bundle.open(dir);
            PrintWriter out = spec.commandLine().getOut();
            String signer = b.sigstruct().map(s -> HexFormat.of().formatHex(s.mrSigner())).orElse(null);
            if (json) {
                ObjectNode n = Json.object();
                n.put("name", b.name());
                n.put("version", b.version());
                n.put("entrypoint", b.entrypoint());
                b.spec().argv().forEach(n.putArray("argv")::add);
                n.put("measurement", b.measurement());
                n.put("mrenclave", b.mrenclave().orElse(null));
                n.put("mrsigner", signer);
                n.put("isvProdId", b.spec().isvProdId());
                n.put("isvSvn", b.spec().isvSvn());
                n.put("files", b.files().size());
                n.put("bytes", b.totalSize());
                Json.print(out, n);
            } else {
                out.println("bundle      " + b.name() + " " + b.version());
                out.println("entrypoint  " + b.entrypoint());
                out.println("argv        " + String.join(" ", b.spec().argv()));
                out.println("measurement " + b.measurement());
                out.println("mrenclave   " + b.mrenclave().orElse("(not computed: built without --gramine)"));
                out.println("mrsigner    " + (signer == null ? "(unsigned)" : signer));
                out.println("isvprodid   " + b.spec().isvProdId() + ", isvsvn " + b.spec().isvSvn());
                out.println("files       " + b.files().size() + " (" + b.totalSize() + " bytes)");
                out.flush();
            }
            return 0;
        }
    }

    /** {@code cloister bundle verify}. */
    @Command(name = "verify", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Re-hash every bundle file against the manifest and check the signature.",
            description = {"Fails on the first file (in path order) that is modified, missing, or not listed in the "
                    + "manifest, naming it; checks entrypoint.sig's RSA signature and that it signs this bundle's "
                    + "measurement."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 intact, 1 a file or the signature does not verify, 3 not a bundle or malformed"})
    static final class Verify implements Callable<Integer> {
        @Parameters(paramLabel = "BUNDLE", description = "The bundle directory.")
        Path dir;

        @Option(names = "--require-signature", description = "Fail if the bundle is not signed.")
        boolean requireSignature;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Bundle b = Bundle.open(dir);
            if (requireSignature && b.sigstruct().isEmpty()) {
                throw new BundleException(CloisterException.Kind.DENIED, dir + " is not signed ("
                        + Bundle.SIGNATURE + " is missing)");
            }
            try (Progress bar = Progress.bytes("verify", b.totalSize(), false)) {
                b.verify(bar::advance);
            }
            PrintWriter out = spec.commandLine().getOut();
            out.println("ok: " + b.files().size() + " files match measurement " + b.measurement()
                    + b.sigstruct().map(s -> ", signed by " + HexFormat.of().formatHex(s.mrSigner())).orElse(""));
            out.flush();
            return 0;
        }
    }

    /** {@code cloister bundle keygen --signer}. */
    @Command(name = "keygen", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Generate an enclave signer key (RSA-3072, public exponent 3, as SGX requires).",
            description = {"Writes the private key as PKCS#8 PEM readable only by its owner, and optionally the "
                    + "public key; prints the MRSIGNER that enclaves signed with it will have."})
    static final class Keygen implements Callable<Integer> {
        @Option(names = "--signer", required = true,
                description = "Generate an SGX enclave signer key (the only kind this command makes).")
        boolean signer;

        @Option(names = {"-o", "--out"}, paramLabel = "KEY.pem", required = true,
                description = "Where to write the private key; must not exist.")
        Path out;

        @Option(names = "--public-out", paramLabel = "PUB.pem", description = "Also write the public key here.")
        Path publicOut;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            KeyPair kp = SignerKeys.generate(new SecureRandom());
            AtomicFiles.writeBytes(out, false, SignerKeys.privatePem(kp));
            RSAPublicKey pub = (RSAPublicKey) kp.getPublic();
            if (publicOut != null) {
                AtomicFiles.writeBytes(publicOut, false, SignerKeys.publicPem(pub));
            }
            PrintWriter w = spec.commandLine().getOut();
            w.println("mrsigner " + HexFormat.of().formatHex(Sigstruct.mrSigner(pub)));
            w.flush();
            return 0;
        }
    }

    /** {@code cloister bundle sign}. */
    @Command(name = "sign", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Sign a bundle: write its SIGSTRUCT (entrypoint.sig).",
            description = {"The SIGSTRUCT's enclave hash is Gramine's MRENCLAVE if the bundle was built with "
                    + "--gramine (the SIGSTRUCT then equals what gramine-sgx-sign writes for entrypoint.manifest "
                    + "with the same key and --date), otherwise the Cloister measurement; attributes are those of a "
                    + "production 64-bit enclave (no DEBUG), ISVPRODID and ISVSVN come from the manifest.",
                "",
                "Either sign here with --key, or sign elsewhere (an HSM): --body-out writes the 256 bytes to sign "
                        + "(RSASSA-PKCS1-v1_5 with SHA-256), then --signature with --public-key completes the "
                        + "SIGSTRUCT after checking the signature. Use the same --date in both steps."},
            footerHeading = "%nExamples:%n",
            footer = {"  cloister bundle sign app.bundle --key signer.pem",
                "  cloister bundle sign app.bundle --body-out body.bin",
                "  openssl dgst -sha256 -sign signer.pem -out sig.bin body.bin",
                "  cloister bundle sign app.bundle --signature sig.bin --public-key signer.pub.pem"})
    static final class Sign implements Callable<Integer> {
        @Parameters(paramLabel = "BUNDLE", description = "The bundle directory.")
        Path dir;

        static final class Mode {
            @Option(names = "--key", paramLabel = "KEY.pem", description = "Sign with this private key.")
            Path key;

            @Option(names = "--body-out", paramLabel = "FILE",
                    description = "Write the 256-byte SIGSTRUCT body to sign elsewhere, and stop.")
            Path bodyOut;

            @Option(names = "--signature", paramLabel = "SIG",
                    description = "A raw 384-byte RSA signature of the body (as openssl dgst -sign writes it); "
                            + "needs --public-key.")
            Path signature;
        }

        @ArgGroup(exclusive = true, multiplicity = "1")
        Mode mode;

        @Option(names = "--public-key", paramLabel = "PUB.pem", description = "The signer's public key, with "
                + "--signature.")
        Path publicKey;

        @Option(names = "--date", paramLabel = "YYYY-MM-DD",
                description = "The SIGSTRUCT date. Default: 0000-00-00, so signing is reproducible.")
        String date;

        @Option(names = "--force", description = "Replace an existing signature.")
        boolean force;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Optional<LocalDate> d = Optional.empty();
            if (date != null) {
                try {
                    d = Optional.of(LocalDate.parse(date));
                } catch (DateTimeParseException e) {
                    throw new ParameterException(spec.commandLine(), "--date " + date + " is not YYYY-MM-DD");
                }
            }
            Bundle b = Bundle.open(dir);
            // A bundle built with --gramine is signed over Gramine's MRENCLAVE, what an SGX CPU will measure.
            Sigstruct unsigned = Sigstruct.unsigned(HexFormat.of().parseHex(b.enclaveHash()), b.spec().isvProdId(),
                    b.spec().isvSvn(), d);
            PrintWriter out = spec.commandLine().getOut();
            if (mode.bodyOut != null) {
                AtomicFiles.writeBytes(mode.bodyOut, force, unsigned.body());
                out.println("wrote the 256-byte body to sign to " + mode.bodyOut);
                out.flush();
                return 0;
            }
            Sigstruct signed;
            if (mode.key != null) {
                RSAPrivateCrtKey k = SignerKeys.readPrivate(Files.readAllBytes(mode.key), mode.key.toString());
                signed = unsigned.sign(k, SignerKeys.publicOf(k));
            } else {
                if (publicKey == null) {
                    throw new ParameterException(spec.commandLine(), "--signature needs --public-key");
                }
                RSAPublicKey pub = SignerKeys.readPublic(Files.readAllBytes(publicKey), publicKey.toString());
                signed = unsigned.withSignature(pub, Files.readAllBytes(mode.signature));
            }
            AtomicFiles.writeBytes(dir.resolve(Bundle.SIGNATURE), force, signed.toBytes());
            out.println("signed " + dir + ": mrsigner " + HexFormat.of().formatHex(signed.mrSigner()));
            out.flush();
            return 0;
        }
    }

    /** {@code cloister bundle export-image}. */
    @Command(name = "export-image", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Write a bundle as an OCI image tarball for a real SGX host (no Docker daemon).",
            description = {"One layer with the bundle under /" + ImageExport.BUNDLE_DIR + "; the entrypoint runs "
                    + "'gramine-sgx entrypoint' there, so the layer belongs on a Gramine base image. Load it with "
                    + "'skopeo copy oci-archive:OUT.tar docker-daemon:NAME:TAG' or 'podman load -i OUT.tar'."})
    static final class ExportImage implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "BUNDLE", description = "The bundle directory.")
        Path dir;

        @Parameters(index = "1", paramLabel = "OUT.tar", description = "The image tarball to write.")
        Path out;

        @Option(names = "--force", description = "Replace an existing OUT.tar.")
        boolean force;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Bundle b = Bundle.open(dir);
            b.verify();
            AtomicFiles.<BundleException>writeStream(out, force, os -> ImageExport.write(b, os));
            PrintWriter w = spec.commandLine().getOut();
            w.println("wrote " + out + " (measurement " + b.measurement() + ")");
            w.flush();
            return 0;
        }
    }

    @SuppressWarnings("unused")
    private static CommandLine unused() {
        return null;
    }
}
