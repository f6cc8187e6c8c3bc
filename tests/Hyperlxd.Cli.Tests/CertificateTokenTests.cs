using System.Text;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;

namespace Hyperlxd.Cli.Tests;

public class CertificateTokenTests
{
    // What LXD 5.0.2 encodes: Go's json.Marshal of CertificateAddToken, standard base64 with padding.
    private const string GoJson =
        """{"client_name":"laptop","fingerprint":"a1b2c3","addresses":["10.0.0.1:8443","[fd42::1]:8443"],"secret":"s3cr3t","expires_at":"0001-01-01T00:00:00Z"}""";

    [Fact]
    public void DecodesTheGoEncoding()
    {
        var token = CertificateToken.TryDecode(Convert.ToBase64String(Encoding.UTF8.GetBytes(GoJson)));
        Assert.NotNull(token);
        Assert.Equal("laptop", token.ClientName);
        Assert.Equal("a1b2c3", token.Fingerprint);
        Assert.Equal(["10.0.0.1:8443", "[fd42::1]:8443"], token.Addresses);
        Assert.Equal("s3cr3t", token.Secret);
    }

    [Fact]
    public void AcceptsUrlSafeUnpaddedBase64()
    {
        var b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(GoJson + "  ")).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        Assert.Equal("s3cr3t", CertificateToken.TryDecode(b64)?.Secret);
    }

    [Fact]
    public void RoundTripsThroughEncode()
    {
        var token = new CertificateAddToken { ClientName = "c", Fingerprint = "ff", Addresses = ["h:1"], Secret = "x" };
        var decoded = CertificateToken.TryDecode(CertificateToken.Encode(token));
        Assert.Equal("ff", decoded?.Fingerprint);
        Assert.Equal(["h:1"], decoded?.Addresses);
    }

    [Theory]
    [InlineData("https://10.0.0.1:8443")]
    [InlineData("10.0.0.1")]
    [InlineData("myserver")]
    [InlineData("bm90IGpzb24=")] // "not json"
    [InlineData("eyJzZWNyZXQiOiJ4In0=")] // {"secret":"x"}: no fingerprint or addresses
    public void NonTokensAreNotMistakenForTokens(string input) => Assert.Null(CertificateToken.TryDecode(input));
}
