using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Security;

/// <summary>A daemon on HTTPS with the busybox image and a trust password, for the trust and authorization tests.</summary>
public sealed class RestrictedDaemon : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;
    public int HttpsPort { get; } = Repo.FreeTcpPort();

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        Daemon = await DaemonProcess.StartAsync();
        await Daemon.PrepareContainersAsync(ImageFixture.Busybox);
        var r = await Daemon.Api.PatchAsync("/1.0", $$$"""{"config":{"core.https_address":"127.0.0.1:{{{HttpsPort}}}","core.trust_password":"s3cret"}}""");
        if (r.Status != HttpStatusCode.OK)
        {
            throw new InvalidOperationException("cannot configure HTTPS: " + r);
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Daemon.DeleteAllInstancesAsync();
        }
        finally
        {
            await Daemon.DisposeAsync();
        }
    }

    /// <summary>Adds <paramref name="cert"/> over the unix socket (as root) with the given restriction.</summary>
    public async Task TrustAsync(X509Certificate2 cert, string name, bool restricted, params string[] projects)
    {
        var body = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["name"] = name,
            ["type"] = "client",
            ["restricted"] = restricted,
            ["projects"] = projects,
            ["certificate"] = Convert.ToBase64String(cert.RawData),
        });
        var r = await Daemon.Api.PostAsync("/1.0/certificates", body);
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
    }
}

[CollectionDefinition(Name)]
public sealed class RestrictedDaemonCollection : ICollectionFixture<RestrictedDaemon>
{
    public const string Name = "restricted daemon";
}
