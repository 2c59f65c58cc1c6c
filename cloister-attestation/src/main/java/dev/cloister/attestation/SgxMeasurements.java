package dev.cloister.attestation;

/**
 * The identity of an SGX enclave from its report body.
 *
 * @param mrEnclave 32-byte hash of the enclave's initial contents (Gramine: of the manifest and trusted files)
 * @param mrSigner 32-byte SHA-256 of the signer's RSA modulus
 * @param isvProdId product id the signer assigned
 * @param isvSvn security version number the signer assigned; policies require a minimum
 * @param attributes 16-byte SGX ATTRIBUTES (flags then XFRM)
 * @param debug the DEBUG bit of the attributes
 */
public record SgxMeasurements(byte[] mrEnclave, byte[] mrSigner, int isvProdId, int isvSvn, byte[] attributes,
        boolean debug) implements Measurements {
    public SgxMeasurements {
        mrEnclave = Bytes.copyOfLength(mrEnclave, 32, "mrEnclave");
        mrSigner = Bytes.copyOfLength(mrSigner, 32, "mrSigner");
        attributes = Bytes.copyOfLength(attributes, 16, "attributes");
    }

    @Override
    public byte[] mrEnclave() {
        return mrEnclave.clone();
    }

    @Override
    public byte[] mrSigner() {
        return mrSigner.clone();
    }

    @Override
    public byte[] attributes() {
        return attributes.clone();
    }

    @Override
    public TeeType teeType() {
        return TeeType.SGX;
    }
}
