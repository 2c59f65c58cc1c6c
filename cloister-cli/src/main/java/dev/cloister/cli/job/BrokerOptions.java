package dev.cloister.cli.job;

import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.Tls;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.NoSuchAlgorithmException;
import javax.net.ssl.SSLContext;
import picocli.CommandLine.Option;

/** How a command reaches the key broker: URL, the certificate to trust, and the caller's token. */
final class BrokerOptions {
    @Option(names = "--broker", paramLabel = "URL",
            description = "The key broker, e.g. https://kbs.example:8443 (default: the job file's 'broker').")
    String url;

    @Option(names = "--broker-ca", paramLabel = "PEM",
            description = "Trust only this certificate (or CA) for the broker, e.g. a broker started with "
                    + "--tls-self-signed (default: the system's trusted CAs).")
    Path ca;

    @Option(names = "--token-file", paramLabel = "FILE",
            description = "The owner's bearer token (default: environment variable CLOISTER_KBS_TOKEN). Never "
                    + "pass tokens as arguments: other users can read them in the process list.")
    Path tokenFile;

    @Option(names = "--namespace", paramLabel = "NS", defaultValue = "${env:CLOISTER_NAMESPACE:-default}",
            description = "The owner's namespace in the broker (default: CLOISTER_NAMESPACE or 'default').")
    String namespace;

    KbsClient client(String fallbackUrl, boolean withToken) throws CloisterException, IOException {
        String u = url != null ? url : fallbackUrl;
        if (u == null || u.isBlank()) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "no broker URL: pass --broker");
        }
        URI base;
        try {
            base = URI.create(u);
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "broker URL is malformed: " + u);
        }
        SSLContext tls;
        if (ca != null) {
            tls = Tls.clientContextTrusting(Tls.readCertificates(ca));
        } else {
            try {
                tls = SSLContext.getDefault();
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
        return new KbsClient(base, withToken ? token() : null, tls);
    }

    private String token() throws CloisterException, IOException {
        if (tokenFile != null) {
            return Files.readString(tokenFile, StandardCharsets.UTF_8).strip();
        }
        String t = System.getenv("CLOISTER_KBS_TOKEN");
        if (t == null || t.isBlank()) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "no broker token: pass --token-file or set CLOISTER_KBS_TOKEN");
        }
        return t.strip();
    }
}
