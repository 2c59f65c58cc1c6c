package dev.cloister.cli.kbs;

import dev.cloister.attestation.policy.Policies;
import dev.cloister.cli.Json;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.ConnectionLimits;
import dev.cloister.kbs.KbsServer;
import dev.cloister.kbs.KbsStore;
import dev.cloister.kbs.KeyBroker;
import dev.cloister.kbs.KeyEncryptionKey;
import dev.cloister.kbs.NonceStore;
import dev.cloister.kbs.Role;
import dev.cloister.kbs.Tls;
import dev.cloister.kbs.gramine.SecretProvisioningServer;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code cloister kbs serve}. */
@Command(name = "serve", mixinStandardHelpOptions = true, usageHelpAutoWidth = true, sortOptions = false,
        header = "Run the key broker (HTTPS JSON API, and optionally Gramine secret provisioning over RA-TLS).",
        description = {
            "Opens (creating and migrating) the database, checks it (SQLite quick_check; a zero-length file is "
                    + "refused) and that its audit log extends the checkpoint kept in --log-anchor (refused "
                    + "otherwise: entries cut off or an older database restored; --allow-log-rollback warns "
                    + "instead), then serves until killed. On first start it creates the "
                    + "master key file (unless one is given, CLOISTER_KBS_MASTER_KEY is set or the key is in a PKCS#11 token, "
                    + "--hsm-module) and an admin token, "
                    + "written to --admin-token-file and never printed.",
            "",
            "With --gramine-listen, it also speaks Gramine's secret-provisioning protocol byte for byte: an "
                    + "unmodified enclave using secret_prov_attest with SECRET_PROVISION_SET_KEY receives the "
                    + "newest version of --gramine-secret if its RA-TLS certificate's quote verifies and satisfies "
                    + "that secret's policy."
        },
        footer = {"%nExample:%n  cloister kbs serve --tls-self-signed --listen 127.0.0.1:8443"})
public final class ServeCommand implements Callable<Integer> {
    @Mixin
    LocalOptions local;

    @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:8443",
            description = "Address to serve HTTPS on (default: ${DEFAULT-VALUE}; port 0 picks a free one).")
    String listen;

    static final class TlsChoice {
        @ArgGroup(exclusive = false)
        Files2 files;

        @Option(names = "--tls-self-signed", required = true,
                description = "Serve a self-signed certificate for localhost/127.0.0.1, written to --cert-out with its key "
                        + "next to it (kbs-tls-key.pem, 0600); made on first start, reused after (renewed 30 days "
                        + "before it expires).")
        boolean selfSigned;
    }

    static final class Files2 {
        @Option(names = "--tls-cert", required = true, paramLabel = "PEM", description = "Certificate chain, PEM.")
        Path cert;

        @Option(names = "--tls-key", required = true, paramLabel = "PEM", description = "Private key, PEM.")
        Path key;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    TlsChoice tls;

    @Option(names = "--cert-out", paramLabel = "FILE",
            description = "Where to write the served certificate for clients' --ca (default: ~/.cloister/kbs-cert.pem); "
                    + "the audit log key goes next to it as kbs-log-key.")
    Path certOut;

    @Option(names = "--admin-token-file", paramLabel = "FILE",
            description = "Where to write the first admin token (default: ~/.cloister/kbs-admin.token).")
    Path adminTokenFile;

    @Option(names = "--admin-token-ttl", paramLabel = "DURATION", defaultValue = "90d",
            description = "Lifetime of the first admin token (s, m, h or d; default: ${DEFAULT-VALUE}). Issue "
                    + "lasting tokens with it ('kbs token create'); when none is active any more, the next start "
                    + "writes a new one, and refuses if --admin-token-file still exists.")
    String adminTokenTtl;

    @Option(names = "--allow-simulation",
            description = "Also trust Cloister's simulation root. Simulated evidence is still denied unless a "
                    + "secret's policy says SIM:ALLOW.")
    boolean allowSimulation;

    @Option(names = "--pccs", paramLabel = "URL",
            description = "Fetch DCAP collateral from this PCCS (or Intel's PCS, https://api.trustedservices.intel.com) "
                    + "too, instead of trusting only what workloads send: the newer of the two decides.")
    String pccs;

    @Option(names = "--pccs-cache", paramLabel = "DIR",
            description = "Where fetched collateral is cached while valid (default: ~/.cloister/pccs-cache).")
    Path pccsCache;

    @Option(names = "--rate-limit", paramLabel = "N", defaultValue = "1000",
            description = "Requests per second per token or client address (0: unlimited; default: ${DEFAULT-VALUE}).")
    double rateLimit;

    @Option(names = "--max-connections-per-client", paramLabel = "N", defaultValue = "256",
            description = "Open connections one client address may hold, on the API and on --gramine-listen each; "
                    + "more are closed on accept (default: ${DEFAULT-VALUE}).")
    int maxConnectionsPerClient;

    @Option(names = "--tls-handshake-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "Close connections (API and --gramine-listen) whose TLS handshake has not finished after "
                    + "this long (default: ${DEFAULT-VALUE}).")
    long handshakeTimeout;

    @Option(names = "--nonce-ttl", paramLabel = "SECONDS", defaultValue = "120",
            description = "How long a release nonce stays valid (default: ${DEFAULT-VALUE}).")
    long nonceTtl;

    @Option(names = "--gramine-listen", paramLabel = "HOST:PORT",
            description = "Also serve Gramine secret provisioning (RA-TLS) here; Gramine's default port is 4433.")
    String gramineListen;

    @Option(names = "--gramine-secret", paramLabel = "NS/NAME",
            description = "The secret Gramine clients receive (with SECRET_PROVISION_SET_KEY it must be a 16-byte pf-key).")
    String gramineSecret;

    @Option(names = "--gramine-collateral", paramLabel = "FILE",
            description = "QuoteCollateralV3 JSON for Gramine clients' quotes (RA-TLS certificates carry none), "
                    + "e.g. fetched from the platform's PCCS; without it the verifier must find collateral itself.")
    Path gramineCollateral;

    @Option(names = "--json", description = "Print the listening addresses as one JSON document once started.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if ((gramineListen == null) != (gramineSecret == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--gramine-listen and --gramine-secret go together");
        }
        InetSocketAddress addr = parseAddress(listen);
        // A key in a token is opened first, so that a missing token or a refused PIN (exit 4) leaves nothing behind:
        // no certificate, database or admin token file is made before it is in hand. A key file is loaded (and made
        // on the first start) where it always was, after the TLS material, so a TLS error creates no key file.
        KeyEncryptionKey kek = local.hsmConfigured() ? local.masterKey(true) : null;
        if (maxConnectionsPerClient < 1 || handshakeTimeout < 1 || nonceTtl < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--max-connections-per-client, --tls-handshake-timeout and --nonce-ttl must be at least 1");
        }
        ConnectionLimits limits = new ConnectionLimits(maxConnectionsPerClient, Duration.ofSeconds(handshakeTimeout),
                ConnectionLimits.DEFAULT.idleTimeout());
        Duration firstTokenTtl = TokenCommand.parseTtl(adminTokenTtl);
        Path home = LocalOptions.home();
        Path cert = certOut != null ? certOut : home.resolve("kbs-cert.pem");
        var verifier = Verifiers.select(allowSimulation, pccs,
                pccsCache != null ? pccsCache : home.resolve("pccs-cache"));
        // The self-signed certificate and its key are kept (key 0600 next to the certificate) and reused on the next
        // start, so that clients' pinned --ca stays valid.
        Tls t = tls.selfSigned ? Tls.selfSignedStored(cert, cert.toAbsolutePath().resolveSibling("kbs-tls-key.pem"),
                Instant.now()) : Tls.fromPem(tls.files.cert, tls.files.key);
        KbsStore store = local.openAnchored(kek != null ? kek : local.masterKey(true));
        Path tokenFile = adminTokenFile != null ? adminTokenFile : home.resolve("kbs-admin.token");
        boolean newToken = false;
        if (!store.hasAdminToken()) {
            if (Files.exists(tokenFile, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                store.close();
                // Never overwritten: it may be the only copy of another broker's admin token, and a database
                // that lost its admin tokens is worth a look before a new one is made.
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the database " + store.describe()
                        + " has no active admin token (expired or revoked), and " + tokenFile + " exists: it is not overwritten; move it "
                        + "away (or pass another --admin-token-file) to have a new admin token written");
            }
            KbsStore.IssuedToken admin = store.createToken("local:" + System.getProperty("user.name"), Role.ADMIN,
                    null, firstTokenTtl);
            Files.createDirectories(tokenFile.toAbsolutePath().getParent());
            AtomicFiles.writeBytes(tokenFile, false, (admin.token() + "\n").getBytes(StandardCharsets.US_ASCII));
            newToken = true;
        }
        Files.createDirectories(cert.toAbsolutePath().getParent());
        AtomicFiles.writeBytes(cert, true, t.certificatePem().getBytes(StandardCharsets.US_ASCII));
        // Next to the certificate, for 'kbs audit checkpoint|prove' on this machine; others pin it out of band.
        Path logKey = cert.toAbsolutePath().resolveSibling("kbs-log-key");
        AtomicFiles.writeBytes(logKey, true, (store.logVerifierKey() + "\n").getBytes(StandardCharsets.UTF_8));
        KeyBroker broker = new KeyBroker(store, verifier, Policies::parse,
                new NonceStore(Duration.ofSeconds(nonceTtl), 250_000));
        KbsServer server = KbsServer.start(broker, addr, t, rateLimit, limits);
        SecretProvisioningServer gramine = null;
        if (gramineListen != null) {
            Names n = Names.parse(gramineSecret);
            byte[] coll = gramineCollateral == null ? null : Files.readAllBytes(gramineCollateral);
            // The API's verifier (with --pccs, the broker's own collateral source) and the API's connection limits.
            gramine = SecretProvisioningServer.start(broker, verifier, coll == null ? null : q -> coll,
                    parseAddress(gramineListen), t, n.namespace(), n.name(), limits);
        }
        PrintWriter err = spec.commandLine().getErr();
        String url = "https://" + server.address().getHostString() + ":" + server.address().getPort();
        if (json) {
            var o = Json.object();
            o.put("url", url);
            o.put("certificate", cert.toString());
            o.put("database", store.describe());
            o.put("auditLogKey", store.logVerifierKey());
            if (newToken) {
                o.put("adminTokenFile", tokenFile.toString());
            }
            if (gramine != null) {
                o.put("gramine", gramine.address().getHostString() + ":" + gramine.address().getPort());
            }
            Json.print(spec.commandLine().getOut(), o);
        }
        err.println("cloister kbs: serving " + url + " (database " + store.describe() + ", certificate " + cert + ")");
        err.println("cloister kbs: audit log key " + store.logVerifierKey() + " (written to " + logKey + ")");
        if (newToken) {
            err.println("cloister kbs: first admin token written to " + tokenFile);
        }
        if (gramine != null) {
            err.println("cloister kbs: Gramine secret provisioning on " + gramine.address().getHostString() + ":"
                    + gramine.address().getPort() + " for " + gramineSecret);
        }
        err.flush();
        CountDownLatch done = new CountDownLatch(1);
        SecretProvisioningServer g = gramine;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            if (g != null) {
                g.close();
            }
            store.close();
            done.countDown();
        }));
        done.await();
        return 0;
    }

    static InetSocketAddress parseAddress(String s) throws CloisterException {
        int i = s.lastIndexOf(':');
        if (i <= 0) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "expected HOST:PORT, got '" + s + "'");
        }
        try {
            int port = Integer.parseInt(s.substring(i + 1));
            if (port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return new InetSocketAddress(s.substring(0, i).replace("[", "").replace("]", ""), port);
        } catch (NumberFormatException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "bad port in '" + s + "'");
        }
    }
}
