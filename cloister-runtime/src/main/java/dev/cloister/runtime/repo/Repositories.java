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

    /** Opens the repository at {@code location}. */
    public static Repository open(String location) throws IOException, CloisterException {
        if (location.startsWith("s3://")) {
            return openS3(location);
        }
        if (location.startsWith("file:")) {
            try {
                return LocalRepository.open(Path.of(new URI(location)));
            } catch (URISyntaxException | IllegalArgumentException e) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "bad repository URI: '" + location + "'");
            }
        }
        if (location.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*")) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "unsupported repository '" + location + "' (use a path, file:///path or s3://bucket/prefix)");
        }
        return LocalRepository.open(Path.of(location));
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
