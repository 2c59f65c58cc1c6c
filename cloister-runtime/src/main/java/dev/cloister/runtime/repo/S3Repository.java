package dev.cloister.runtime.repo;

import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.Optional;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * A repository in any S3-compatible store (AWS S3, MinIO, Ceph RGW, s3proxy...). Objects live under
 * {@code <prefix>objects/sha256/<hex>} and references under {@code <prefix>refs/<name>}. S3 makes an object
 * visible only once its upload completes, which gives the atomicity the {@link Repository} contract asks for;
 * downloads are still hashed against the id, because the store is not trusted.
 */
public final class S3Repository implements Repository {
    private final S3Client s3;
    private final String bucket;
    private final String prefix;
    private final String location;

    private S3Repository(S3Client s3, String bucket, String prefix, String location) {
        this.s3 = s3;
        this.bucket = bucket;
        this.prefix = prefix;
        this.location = location;
    }

    /**
     * Connects to a bucket.
     *
     * @param endpoint the store's URL, or null for AWS itself
     * @param credentials where credentials come from (the SDK's default chain reads AWS_ACCESS_KEY_ID etc.)
     */
    public static S3Repository open(URI endpoint, String region, String bucket, String prefix,
            AwsCredentialsProvider credentials) {
        var b = S3Client.builder()
                .httpClientBuilder(UrlConnectionHttpClient.builder())
                .region(Region.of(region))
                .credentialsProvider(credentials)
                // Path-style addressing works with every S3-compatible server, not only virtual-host capable ones.
                .forcePathStyle(true);
        if (endpoint != null) {
            b.endpointOverride(endpoint);
        }
        String p = prefix == null || prefix.isEmpty() ? "" : (prefix.endsWith("/") ? prefix : prefix + "/");
        return new S3Repository(b.build(), bucket, p, "s3://" + bucket + "/" + p);
    }

    private String objectKey(ObjectId id) {
        return prefix + "objects/sha256/" + id.hex();
    }

    @Override
    public ObjectId put(Path file) throws IOException, CloisterException {
        MessageDigest md = ObjectId.sha256();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), md)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        }
        ObjectId id = ObjectId.of(md);
        if (!exists(id)) {
            call(() -> s3.putObject(r -> r.bucket(bucket).key(objectKey(id)), RequestBody.fromFile(file)));
        }
        return id;
    }

    @Override
    public ObjectId put(byte[] bytes) throws CloisterException {
        ObjectId id = ObjectId.of(bytes);
        if (!exists(id)) {
            call(() -> s3.putObject(r -> r.bucket(bucket).key(objectKey(id)), RequestBody.fromBytes(bytes)));
        }
        return id;
    }

    @Override
    public void get(ObjectId id, Path target) throws IOException, CloisterException {
        AtomicFiles.<CloisterException>writeStream(target, true, out -> {
            MessageDigest md = ObjectId.sha256();
            try (InputStream in = new DigestInputStream(open(id), md)) {
                in.transferTo(out);
            }
            id.check(md, location);
        });
    }

    @Override
    public byte[] getBytes(ObjectId id) throws IOException, CloisterException {
        byte[] b;
        try (InputStream in = open(id)) {
            b = in.readAllBytes();
        }
        MessageDigest md = ObjectId.sha256();
        md.update(b);
        id.check(md, location);
        return b;
    }

    private InputStream open(ObjectId id) throws CloisterException {
        try {
            return call(() -> s3.getObject(r -> r.bucket(bucket).key(objectKey(id))));
        } catch (NotFound e) {
            throw id.missingFrom(location);
        }
    }

    @Override
    public boolean exists(ObjectId id) throws CloisterException {
        try {
            call(() -> s3.headObject(r -> r.bucket(bucket).key(objectKey(id))));
            return true;
        } catch (NotFound e) {
            return false;
        }
    }

    @Override
    public void putRef(String name, byte[] content) throws CloisterException {
        String key = prefix + "refs/" + Repository.checkRefName(name);
        call(() -> s3.putObject(r -> r.bucket(bucket).key(key), RequestBody.fromBytes(content)));
    }

    @Override
    public Optional<byte[]> getRef(String name) throws CloisterException {
        String key = prefix + "refs/" + Repository.checkRefName(name);
        try {
            return Optional.of(call(() -> s3.getObjectAsBytes(r -> r.bucket(bucket).key(key))).asByteArray());
        } catch (NotFound e) {
            return Optional.empty();
        }
    }

    @Override
    public String location() {
        return location;
    }

    @Override
    public void close() {
        s3.close();
    }

    /** A 404 from the store, kept apart so callers can turn it into "missing" rather than an error. */
    private static final class NotFound extends CloisterException {
        private static final long serialVersionUID = 1L;

        NotFound() {
            super(Kind.BAD_INPUT, "not found");
        }
    }

    private <T> T call(java.util.function.Supplier<T> op) throws CloisterException {
        try {
            return op.get();
        } catch (NoSuchKeyException e) {
            throw new NotFound();
        } catch (S3Exception e) {
            if (e.statusCode() == 404) {
                throw new NotFound();
            }
            if (e.statusCode() == 403 || e.statusCode() == 401) {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                        "S3 repository " + location + " refused access (HTTP " + e.statusCode()
                                + "): check the credentials and bucket policy");
            }
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "S3 repository " + location + " failed: HTTP " + e.statusCode() + " "
                            + e.awsErrorDetails().errorCode());
        } catch (SdkClientException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "S3 repository " + location + " is unreachable: " + e.getMessage());
        }
    }
}
