package dev.cloister.runtime.repo;

import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.Optional;

/**
 * A repository in a local folder: {@code objects/sha256/<2 hex>/<62 hex>} and {@code refs/<name>}. Writes go to
 * a temporary file in the same folder and are renamed into place, so readers never see a partial object.
 */
public final class LocalRepository implements Repository {
    private final Path root;

    private LocalRepository(Path root) {
        this.root = root;
    }

    /** Opens (creating if needed) the repository at {@code root}. */
    public static LocalRepository open(Path root) throws IOException {
        Path abs = root.toAbsolutePath().normalize();
        Files.createDirectories(abs.resolve("objects").resolve("sha256"));
        Files.createDirectories(abs.resolve("refs"));
        return new LocalRepository(abs);
    }

    /**
     * Opens the repository at {@code root} without creating anything: readers ({@code job fetch}) and workers must
     * not leave an empty repository behind when they are given a wrong folder. Folders inside it are created only
     * when something is stored.
     *
     * @throws CloisterException BAD_INPUT naming the folder when it does not exist
     */
    public static LocalRepository openExisting(Path root) throws CloisterException {
        Path abs = root.toAbsolutePath().normalize();
        if (!Files.isDirectory(abs)) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "no repository at " + abs + " (no such folder)");
        }
        return new LocalRepository(abs);
    }

    private Path objectPath(ObjectId id) {
        return root.resolve("objects").resolve("sha256").resolve(id.hex().substring(0, 2)).resolve(id.hex().substring(2));
    }

    @Override
    public ObjectId put(Path file) throws IOException {
        // Hash while copying into a temporary file, then move it under its id: one read of the source.
        Path dir = Files.createDirectories(root.resolve("objects").resolve("sha256"));
        Path tmp = Files.createTempFile(dir, ".upload", ".tmp");
        try {
            MessageDigest md = ObjectId.sha256();
            try (InputStream in = new DigestInputStream(Files.newInputStream(file), md);
                    OutputStream out = Files.newOutputStream(tmp)) {
                in.transferTo(out);
            }
            ObjectId id = ObjectId.of(md);
            Path target = objectPath(id);
            Files.createDirectories(target.getParent());
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return id;
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    @Override
    public ObjectId put(byte[] bytes) throws IOException {
        ObjectId id = ObjectId.of(bytes);
        Path target = objectPath(id);
        if (!Files.exists(target)) {
            Files.createDirectories(target.getParent());
            AtomicFiles.writeBytes(target, true, bytes);
        }
        return id;
    }

    @Override
    public void get(ObjectId id, Path target) throws IOException, CloisterException {
        Path src = existing(id);
        AtomicFiles.<CloisterException>writeStream(target, true, out -> {
            MessageDigest md = ObjectId.sha256();
            try (InputStream in = new DigestInputStream(Files.newInputStream(src), md)) {
                in.transferTo(out);
            }
            id.check(md, location());
        });
    }

    @Override
    public byte[] getBytes(ObjectId id) throws IOException, CloisterException {
        byte[] b = Files.readAllBytes(existing(id));
        MessageDigest md = ObjectId.sha256();
        md.update(b);
        id.check(md, location());
        return b;
    }

    @Override
    public boolean exists(ObjectId id) {
        return Files.isRegularFile(objectPath(id));
    }

    @Override
    public void putRef(String name, byte[] content) throws IOException, CloisterException {
        Path p = root.resolve("refs").resolve(Repository.checkRefName(name));
        Files.createDirectories(p.getParent());
        AtomicFiles.writeBytes(p, true, content);
    }

    @Override
    public Optional<byte[]> getRef(String name) throws IOException, CloisterException {
        Path p = root.resolve("refs").resolve(Repository.checkRefName(name));
        try {
            return Optional.of(Files.readAllBytes(p));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    @Override
    public String location() {
        return root.toUri().toString();
    }

    private Path existing(ObjectId id) throws CloisterException {
        Path p = objectPath(id);
        if (!Files.isRegularFile(p)) {
            throw id.missingFrom(location());
        }
        return p;
    }
}
