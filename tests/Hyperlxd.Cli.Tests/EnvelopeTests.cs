using System.Text;
using Hyperlxd.Cli.Client;

namespace Hyperlxd.Cli.Tests;

public class EnvelopeTests
{
    private static Hyperlxd.Api.Response Parse(string body, int status) =>
        HyperlxdClient.ParseEnvelope(Encoding.UTF8.GetBytes(body), status, HttpMethod.Get, "/1.0/profiles/x");

    [Fact]
    public void SyncEnvelopeExposesMetadata()
    {
        var envelope = Parse("""{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"name":"x"}}""", 200);
        Assert.Equal("sync", envelope.Type);
        Assert.Equal("x", envelope.Metadata.GetProperty("name").GetString());
    }

    [Fact]
    public void ErrorEnvelopeBecomesApiExceptionWithTheServerMessage()
    {
        var e = Assert.Throws<ApiException>(() =>
            Parse("""{"type":"error","status":"","status_code":0,"operation":"","error_code":404,"error":"Profile not found","metadata":null}""", 404));
        Assert.Equal("Profile not found", e.Message);
        Assert.Equal(404, e.StatusCode);
    }

    [Fact]
    public void ErrorCodeFallsBackToHttpStatus()
    {
        var e = Assert.Throws<ApiException>(() => Parse("""{"type":"error","error":"Forbidden"}""", 403));
        Assert.Equal(403, e.StatusCode);
    }

    [Fact]
    public void NonJsonFailureSaysFailedToFetch()
    {
        var e = Assert.Throws<ApiException>(() => Parse("<html>oops</html>", 502));
        Assert.Equal("Failed to fetch /1.0/profiles/x: 502 BadGateway", e.Message);
    }

    [Fact]
    public void SuccessWithoutAnEnvelopeIsRejected()
    {
        var e = Assert.Throws<CliException>(() => Parse("""{"name":"x"}""", 200));
        Assert.Contains("not an LXD response envelope", e.Message);
    }
}
