using System.Net;
using System.Net.NetworkInformation;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Daemon.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Hosting;

/// <summary>
/// The HTTPS endpoint on <c>core.https_address</c>. Kestrel cannot add listeners to a running
/// server, so each address gets its own small web application over the same pipeline and the
/// daemon's services (<paramref name="services"/>: requests resolve from them, not from this app's container).
/// </summary>
public sealed class HttpsListener(ServerCertificate certificate, IServiceProvider services, ILoggerFactory loggers) : IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<HttpsListener>();
    private WebApplication? _app;

    public IReadOnlyList<string> Addresses { get; private set; } = Array.Empty<string>();

    /// <summary>Moves the listener to <paramref name="address"/> (empty: stop listening). Throws 400 when it cannot bind.</summary>
    public async Task ApplyAsync(string address)
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
            Addresses = Array.Empty<string>();
        }
        if (address.Length == 0)
        {
            return;
        }
        var endpoint = Validators.ParseListenAddress(address, 8443)
            ?? throw new BadRequestException($"Invalid value for server config key \"{ServerConfig.HttpsAddress}\": \"{address}\"");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // Log through the daemon's own factory: refused trust attempts and request errors on HTTPS must be seen.
        builder.Services.AddSingleton<ILoggerFactory>(loggers);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            k.Listen(endpoint, l => l.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificate = certificate.Certificate,
                // Clients present self-signed certificates: accept any at the TLS layer, then
                // decide trust by fingerprint for each request.
                ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.AllowCertificate,
                ClientCertificateValidation = (_, _, _) => true,
                CheckCertificateRevocation = false,
            }));
        });
        var app = builder.Build();
        ApiPipeline.Configure(app, services);
        try
        {
            await app.StartAsync();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            await app.DisposeAsync();
            throw new BadRequestException($"Cannot listen on {address}: {e.Message}");
        }
        _app = app;
        Addresses = Expand(endpoint);
        _logger.LogInformation("Listening on HTTPS {Address}", address);
    }

    /// <summary>A wildcard address stands for every local address, as LXD reports it.</summary>
    private static List<string> Expand(IPEndPoint endpoint)
    {
        if (!endpoint.Address.Equals(IPAddress.Any) && !endpoint.Address.Equals(IPAddress.IPv6Any))
        {
            return new List<string> { endpoint.ToString() };
        }
        return NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus == OperationalStatus.Up || i.NetworkInterfaceType == NetworkInterfaceType.Loopback)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .Where(a => !a.IsIPv6LinkLocal && (endpoint.Address.Equals(IPAddress.IPv6Any) || a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
            .Select(a => new IPEndPoint(a, endpoint.Port).ToString())
            .ToList();
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }
}
