package dev.cloister.cli.kbs;

import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.KbsException;
import dev.cloister.kbs.Tls;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where the broker is and how to authenticate to it. */
public final class ClientOptions {
    @Option(names = "--url", paramLabel = "URL",
            description = "Broker base URL (default: $CLOISTER_KBS_URL, else https://127.0.0.1:8443).")
    String url;

    @Option(names = "--token", paramLabel = "TOKEN",
            description = "Bearer token (default: $CLOISTER_KBS_TOKEN). Prefer --token-file: arguments are visible "
                    + "to other users in the process list.")
    String token;

    @Option(names = "--token-file", paramLabel = "FILE", description = "Read the bearer token from FILE.")
    Path tokenFile;

    @Option(names = "--ca", paramLabel = "PEM",
            description = "The broker's certificate (or its CA) to trust, PEM (default: $CLOISTER_KBS_CA, else "
                    + "~/.cloister/kbs-cert.pem as written by 'kbs serve').")
    Path ca;

    /** A client for the configured broker; {@code needToken} false for workload calls. */
    KbsClient client(boolean needToken) throws CloisterException {
        return client(needToken, null);
    }

    /**
     * A client for the configured broker, where {@code fallbackUrl} (a job file's broker, say) stands in when
     * {@code --url} is not given.
     */
    public KbsClient client(boolean needToken, String fallbackUrl) throws CloisterException {
        String u = url(fallbackUrl);
        String t = token != null ? token : System.getenv("CLOISTER_KBS_TOKEN");
        if (tokenFile != null) {
            try {
                t = Files.readString(tokenFile, StandardCharsets.US_ASCII).strip();
            } catch (java.io.IOException e) {
                throw KbsException.badRequest("cannot read token file " + tokenFile + ": " + e.getMessage());
            }
        }
        if (needToken && (t == null || t.isBlank())) {
            throw KbsException.badRequest("no token: pass --token-file FILE or set CLOISTER_KBS_TOKEN");
        }
        Path caFile = caFile();
        if (!Files.exists(caFile)) {
            throw KbsException.badRequest("no broker certificate " + caFile + ": pass --ca PEM");
        }
        URI base;
        try {
            base = URI.create(u);
        } catch (IllegalArgumentException e) {
            throw KbsException.badRequest("bad --url " + u);
        }
        if (!"https".equals(base.getScheme())) {
            throw KbsException.badRequest("--url must be https://, got " + u);
        }
        return new KbsClient(base, needToken ? t : null, Tls.clientContextTrusting(Tls.readCertificates(caFile)));
    }

    /** The broker URL: {@code --url}, else {@code fallbackUrl}, else CLOISTER_KBS_URL, else the local default. */
    public String url(String fallbackUrl) {
        return url != null ? url : fallbackUrl != null ? fallbackUrl : env("CLOISTER_KBS_URL", "https://127.0.0.1:8443");
    }

    /** The PEM file with the broker's certificate: {@code --ca}, else CLOISTER_KBS_CA, else ~/.cloister/kbs-cert.pem. */
    public Path caFile() {
        return ca != null ? ca : Path.of(env("CLOISTER_KBS_CA",
                Path.of(System.getProperty("user.home"), ".cloister", "kbs-cert.pem").toString()));
    }

    /** Whether a token is available from --token, --token-file or the environment. */
    public boolean hasToken() {
        return token != null || tokenFile != null || System.getenv("CLOISTER_KBS_TOKEN") != null;
    }

    private static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? dflt : v;
    }
}
