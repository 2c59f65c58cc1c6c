package dev.cloister.runtime.worker;

import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleSpec;
import dev.cloister.core.CloisterException;
import java.nio.file.Path;

/** Opens bundles made by {@code cloister build} for the worker, verifying every file before a run. */
public final class WorkerBundles {
    private WorkerBundles() {}

    /**
     * Opens and verifies a bundle.
     *
     * @throws CloisterException DENIED naming the first file that differs from the manifest
     */
    public static BundleView open(Path dir) throws CloisterException {
        Bundle b = Bundle.open(dir);
        b.verify();
        return view(dir, b);
    }

    /**
     * Opens a bundle without re-hashing its files, for the {@code sim} backend when start-up time matters (pipeline
     * steps): the launcher inside the enclave re-hashes every file before the program starts and refuses a
     * mismatch, which is the check that counts; the worker's own check only fails earlier.
     */
    public static BundleView describe(Path dir) throws CloisterException {
        return view(dir, Bundle.open(dir));
    }

    private static BundleView view(Path dir, Bundle b) {
        var argv = b.spec().argv();
        return new BundleView(dir, BundleSpec.ROOT, b.measurement(), b.entrypoint(),
                argv.isEmpty() ? argv : argv.subList(1, argv.size()), b.spec().env(), "/");
    }
}
