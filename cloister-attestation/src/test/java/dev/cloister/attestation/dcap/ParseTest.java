package dev.cloister.attestation.dcap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.attestation.TeeType;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** Parsing real quotes and collateral: fields land where the reference says, and records round-trip. */
class ParseTest {
    @Test
    void sgxV3Fields() throws Exception {
        Quote q = Quote.parse(TestData.bytes("dcap-qvl/sgx_quote"));
        assertThat(q.header().version()).isEqualTo(3);
        assertThat(q.teeType()).isEqualTo(TeeType.SGX);
        assertThat(q.signedLength()).isEqualTo(432);
        assertThat(HexFormat.of().formatHex(q.header().qeVendorId())).isEqualTo("939a7233f79c4ca9940a0db3957f0607");
        assertThat(q.signatureData().qe().certificationData().type()).isEqualTo(5);
        assertThat(q.signatureData().qe().qeAuthData()).hasSize(32);
        EnclaveReport body = (EnclaveReport) q.body();
        assertThat(EnclaveReport.parse(body.toBytes())).usingRecursiveComparison().isEqualTo(body);
        Cert leaf = Cert.parsePemChain(q.signatureData().qe().certificationData().pckChainPem(), "chain").get(0);
        PckExtensions ext = PckExtensions.of(leaf);
        assertThat(HexFormat.of().formatHex(ext.fmspc())).isEqualTo("00a067110000");
        assertThat(ext.components()).startsWith(11, 11, 2, 2, 255, 1, 0);
        assertThat(ext.ppid()).isNotEmpty();
    }

    @Test
    void tdxV4AndV5Fields() throws Exception {
        Quote v4 = Quote.parse(TestData.bytes("dcap-qvl/tdx_quote"));
        assertThat(v4.teeType()).isEqualTo(TeeType.TDX);
        assertThat(v4.signedLength()).isEqualTo(632);
        assertThat(((TdReport) v4.body()).isV15()).isFalse();
        assertThat(v4.toBytes()).hasSize(5006 - 70);
        Quote v5 = Quote.parse(TestData.bytes("automata/quote_v5_tdx_alibaba_90c06f000000.dat"));
        assertThat(v5.header().version()).isEqualTo(5);
        assertThat(v5.bodyType()).isEqualTo(Quote.BODY_TD15);
        assertThat(v5.signedLength()).isEqualTo(702);
        TdReport td = (TdReport) v5.body();
        assertThat(td.mrServiceTd()).isNotEqualTo(new byte[48]);
        assertThat(TdReport.parse(td.toBytes())).usingRecursiveComparison().isEqualTo(td);
    }

    @Test
    void hexQuotesAndPaddedBuffers() throws Exception {
        assertThat(Quote.parse(TestData.bytes("dcap-qvl/tdx-quote.hex")).teeType()).isEqualTo(TeeType.TDX);
        byte[] cos = TestData.bytes("go-tdx-guest/cos-113-tdx-quote.dat");
        assertThat(cos).hasSize(8000);
        assertThat(Quote.parse(cos).toBytes()).hasSize(8000 - 3065);
    }

    @Test
    void collateralRoundTrips() throws Exception {
        Collateral c = Collateral.parse(TestData.bytes("dcap-qvl/tdx_quote_collateral.json"));
        assertThat(Collateral.parse(c.toBytes())).usingRecursiveComparison().isEqualTo(c);
        TcbInfo t = TcbInfo.parse(c.tcbInfo());
        assertThat(t.id()).isEqualTo("TDX");
        assertThat(t.tdxModuleIdentities()).extracting(TcbInfo.TdxModuleIdentity::id).contains("TDX_01", "TDX_03");
        // levels are in Intel's order and toJson keeps every fact
        assertThat(TcbInfo.parse(t.toJson())).usingRecursiveComparison().isEqualTo(t);
        QeIdentity q = QeIdentity.parse(c.qeIdentity());
        assertThat(q.id()).isEqualTo("TD_QE");
        assertThat(QeIdentity.parse(q.toJson())).usingRecursiveComparison().isEqualTo(q);
    }

    @Test
    void tcbInfoVersion2FlatFormat() throws Exception {
        StringBuilder comps = new StringBuilder();
        for (int i = 1; i <= 16; i++) {
            comps.append(String.format("\"sgxtcbcomp%02dsvn\":%d,", i, i));
        }
        String v2 = "{\"version\":2,\"issueDate\":\"2024-01-01T00:00:00Z\",\"nextUpdate\":\"2024-02-01T00:00:00Z\","
                + "\"fmspc\":\"00906EA10000\",\"pceId\":\"0000\",\"tcbEvaluationDataNumber\":5,\"tcbLevels\":[{\"tcb\":{"
                + comps + "\"pcesvn\":7},\"tcbDate\":\"2023-01-01T00:00:00Z\",\"tcbStatus\":\"UpToDate\"}]}";
        TcbInfo t = TcbInfo.parse(v2);
        assertThat(t.id()).isEqualTo("SGX");
        assertThat(t.tcbLevels().get(0).sgxComponents()).containsExactly(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                14, 15, 16);
    }

    @Test
    void strictCollateral() {
        assertThatThrownBy(() -> Collateral.parse("{}".getBytes())).hasMessageContaining("pck_crl_issuer_chain");
        assertThatThrownBy(() -> TcbInfo.parse("{\"version\":3,\"id\":\"SGX\",\"tcbStatus\":1}"))
                .hasMessageContaining("tcbInfo.tcbLevels is missing");
        assertThatThrownBy(() -> QeIdentity.parse("{\"id\":\"QE\",\"version\":2,\"tcbLevels\":[{\"tcb\":{\"isvsvn\":1},"
                + "\"tcbDate\":\"x\",\"tcbStatus\":\"Fine\"}]}")).hasMessageContaining("unknown TCB status Fine");
        assertThatThrownBy(() -> Collateral.parse("{\"a\":1,\"a\":2}".getBytes())).hasMessageContaining("not valid JSON");
    }
}
