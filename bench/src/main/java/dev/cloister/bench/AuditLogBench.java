package dev.cloister.bench;

import dev.cloister.kbs.tlog.Checkpoint;
import dev.cloister.kbs.tlog.MerkleTree;
import dev.cloister.kbs.tlog.NoteSigner;
import dev.cloister.kbs.tlog.NoteVerifier;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The audit transparency log's costs on a log of {@code entries} entries: what the broker does per request
 * (a root over the whole log, an inclusion proof, a consistency proof, signing a checkpoint) and what a client
 * does (verifying a checkpoint's signature and an inclusion proof). Each broker-side call first appends one entry,
 * as a live log grows, so the remembered subtrees at the log's right edge are not all reused.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class AuditLogBench {
    @Param({"1000000"})
    int entries;

    MerkleTree tree;
    NoteSigner signer;
    NoteVerifier verifier;
    String note;
    byte[] leaf;
    List<byte[]> proof;
    Checkpoint checkpoint;
    long next;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        tree = new MerkleTree();
        for (next = 0; next < entries; next++) {
            tree.append(MerkleTree.leafHash(("entry " + next).getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        }
        signer = NoteSigner.generate("cloister-kbs/bench");
        verifier = NoteVerifier.parse(signer.verifierKey());
        checkpoint = new Checkpoint(signer.name(), entries, tree.root(entries));
        note = signer.sign(checkpoint.toText());
        leaf = MerkleTree.leafHash(("entry " + (entries / 3)).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        proof = tree.inclusionProof(entries / 3, entries);
    }

    private long grow() {
        tree.append(MerkleTree.leafHash(("entry " + next++).getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        return tree.size();
    }

    @Benchmark
    public byte[] brokerRootAfterAppend() {
        return tree.root(grow());
    }

    @Benchmark
    public String brokerSignedCheckpointAfterAppend() {
        long n = grow();
        return signer.sign(new Checkpoint(signer.name(), n, tree.root(n)).toText());
    }

    @Benchmark
    public List<byte[]> brokerInclusionProof() {
        long n = grow();
        return tree.inclusionProof(n / 3, n);
    }

    @Benchmark
    public List<byte[]> brokerConsistencyProof() {
        long n = grow();
        return tree.consistencyProof(entries, n);
    }

    @Benchmark
    public Checkpoint clientVerifyCheckpoint() throws Exception {
        return Checkpoint.open(note, verifier);
    }

    @Benchmark
    public Checkpoint clientVerifyInclusion() throws Exception {
        MerkleTree.verifyInclusion(entries / 3, entries, leaf, proof, checkpoint.rootHash());
        return checkpoint;
    }
}
