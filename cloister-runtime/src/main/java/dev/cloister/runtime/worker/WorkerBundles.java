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
        var argv = b.spec().argv();
        return new BundleView(dir, BundleSpec.ROOT, b.measurement(), b.entrypoint(),
                argv.isEmpty() ? argv : argv.subList(1, argv.size()), b.spec().env(), "/");
    }
}
