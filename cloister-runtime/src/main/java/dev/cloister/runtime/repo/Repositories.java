package dev.cloister.runtime.repo;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;

/**
 * Opens a repository from the location users write in job files and on the command line:
 * <ul>
 *   <li>a path or {@code file:///path}: a {@link LocalRepository};</li>
 *   <li>{@code s3://BUCKET[/PREFIX][?endpoint=URL&region=R]}: an {@link S3Repository}, with credentials from the
 *       usual AWS sources (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles).</li>
 * </ul>
 */
public final class Repositories {
    private Repositories() {}

    /** Opens the repository at {@code location}, creating a local folder repository if there is none. */
    public static Repository open(String location) throws IOException, CloisterException {
        return open(location, true);
    }

    /**
     * Opens the repository at {@code location} without creating anything (for fetching and running jobs, where a
     * mistyped folder must fail rather than leave an empty repository behind).
     *
     * @throws CloisterException BAD_INPUT when a local repository folder does not exist
     */
    public static Repository openExisting(String location) throws IOException, CloisterException {
        return open(location, false);
    }

    private static Repository open(String location, boolean create) throws IOException, CloisterException {
        if (location.startsWith("s3://")) {
            return openS3(location);
        }
        Path local;
        if (location.startsWith("file:")) {
            try {
                local = Path.of(new URI(location));
            } catch (URISyntaxException | IllegalArgumentException e) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "bad repository URI: '" + location + "'");
            }
        } else if (location.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*")) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "unsupported repository '" + location + "' (use a path, file:///path or s3://bucket/prefix)");
        } else {
            local = Path.of(location);
        }
        return create ? LocalRepository.open(local) : LocalRepository.openExisting(local);
    }

    private static Repository openS3(String location) throws CloisterException {
        URI uri;
        try {
            uri = new URI(location);
        } catch (URISyntaxException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "bad repository URI: '" + location + "'");
        }
        String bucket = uri.getHost();
        if (bucket == null || bucket.isEmpty()) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "repository '" + location + "' names no bucket (expected s3://BUCKET/PREFIX)");
        }
        Map<String, String> q = query(uri.getRawQuery());
        String prefix = uri.getPath() == null ? "" : uri.getPath().replaceFirst("^/", "");
        URI endpoint = null;
        if (q.containsKey("endpoint")) {
            try {
                endpoint = new URI(q.get("endpoint"));
            } catch (URISyntaxException e) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        "bad endpoint in repository '" + location + "'");
            }
        }
        String region = q.getOrDefault("region", System.getenv().getOrDefault("AWS_REGION", "us-east-1"));
        return S3Repository.open(endpoint, region, bucket, prefix, DefaultCredentialsProvider.builder().build());
    }

    private static Map<String, String> query(String raw) {
        Map<String, String> m = new HashMap<>();
        if (raw == null) {
            return m;
        }
        for (String kv : raw.split("&")) {
            int i = kv.indexOf('=');
            if (i > 0) {
                m.put(URLDecoder.decode(kv.substring(0, i), StandardCharsets.UTF_8),
                        URLDecoder.decode(kv.substring(i + 1), StandardCharsets.UTF_8));
            }
        }
        return m;
    }
}
