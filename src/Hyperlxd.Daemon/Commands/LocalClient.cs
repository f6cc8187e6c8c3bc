using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hyperlxd.Api;

namespace Hyperlxd.Daemon.Commands;

/// <summary>A minimal API client over the unix socket for the daemon's own subcommands.</summary>
public sealed class LocalClient : IDisposable
{
    private readonly HttpClient _http;

    public LocalClient(string socketPath)
    {
        _http = new HttpClient(UnixSocketTransport.CreateHandler(socketPath)) { BaseAddress = UnixSocketTransport.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>Sends a request and returns the envelope's metadata; an error envelope becomes a <see cref="CommandException"/>.</summary>
    public async Task<JsonElement> SendAsync(HttpMethod method, string path, string? json = null, CancellationToken ct = default)
    {
        using var req = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            req.Content = new StringContent(json, Encoding.UTF8);
            req.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        using var resp = await _http.SendAsync(req, ct);
        var body = await resp.Content.ReadAsStringAsync(ct);
        Response? envelope;
        try
        {
            envelope = JsonSerializer.Deserialize(body, ApiJsonContext.Default.Response);
        }
        catch (JsonException)
        {
            throw new CommandException($"{method} {path}: unexpected response ({(int)resp.StatusCode})");
        }
        if (envelope is null || envelope.Type == "error")
        {
            throw new CommandException($"{method} {path}: {envelope?.Error ?? "empty response"}");
        }
        return envelope.Metadata;
    }

    public void Dispose() => _http.Dispose();
}
