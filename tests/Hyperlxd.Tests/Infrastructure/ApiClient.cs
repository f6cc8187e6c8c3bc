using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Hyperlxd.Tests.Infrastructure;

public sealed record ApiResponse(HttpStatusCode Status, JsonElement Body, System.Net.Http.Headers.HttpResponseHeaders Headers)
{
    public JsonElement Metadata => Body.GetProperty("metadata");
    public string Error => Body.TryGetProperty("error", out var e) ? e.GetString() ?? "" : "";
    public string Type => Body.GetProperty("type").GetString()!;
    public override string ToString() => $"{(int)Status} {Body}";
}

/// <summary>A raw HTTP client for the daemon's API over its unix socket or HTTPS.</summary>
public sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;

    private ApiClient(HttpClient http) => _http = http;

    public static ApiClient Unix(string socketPath) =>
        new(new HttpClient(Hyperlxd.Api.UnixSocketTransport.CreateHandler(socketPath)) { BaseAddress = Hyperlxd.Api.UnixSocketTransport.BaseAddress, Timeout = TimeSpan.FromSeconds(100) });

    /// <summary>HTTPS on 127.0.0.1:<paramref name="port"/>, connecting from inside <paramref name="netns"/> when given (a test daemon's namespace).</summary>
    public static ApiClient Https(int port, System.Security.Cryptography.X509Certificates.X509Certificate2? clientCert = null, string? netns = null)
    {
        var handler = new SocketsHttpHandler().ConnectingIn(netns);
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        if (clientCert is not null)
        {
            handler.SslOptions.ClientCertificates = new() { clientCert };
        }
        return new ApiClient(new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(100) });
    }

    public Task<ApiResponse> GetAsync(string path) => SendAsync(HttpMethod.Get, path);

    public async Task<ApiResponse> SendAsync(HttpMethod method, string path, string? body = null, Dictionary<string, string>? headers = null)
    {
        using var req = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            req.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }
        foreach (var (k, v) in headers ?? new())
        {
            req.Headers.TryAddWithoutValidation(k, v);
        }
        using var resp = await _http.SendAsync(req);
        var text = await resp.Content.ReadAsStringAsync();
        var json = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return new ApiResponse(resp.StatusCode, json, resp.Headers);
    }

    /// <summary>Any request content (raw image uploads, multipart); the reply is read as an envelope.</summary>
    public async Task<ApiResponse> SendContentAsync(HttpMethod method, string path, HttpContent content, Dictionary<string, string>? headers = null)
    {
        using var req = new HttpRequestMessage(method, path) { Content = content };
        foreach (var (k, v) in headers ?? new())
        {
            req.Headers.TryAddWithoutValidation(k, v);
        }
        using var resp = await _http.SendAsync(req);
        var text = await resp.Content.ReadAsStringAsync();
        var json = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return new ApiResponse(resp.StatusCode, json, resp.Headers);
    }

    /// <summary>The raw response (image export).</summary>
    public async Task<HttpResponseMessage> RawAsync(string path) =>
        await _http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);

    public Task<ApiResponse> PostAsync(string path, string body) => SendAsync(HttpMethod.Post, path, body);

    public Task<ApiResponse> PutAsync(string path, string body, string? ifMatch = null) =>
        SendAsync(HttpMethod.Put, path, body, ifMatch is null ? null : new() { ["If-Match"] = ifMatch });

    public Task<ApiResponse> PatchAsync(string path, string body) => SendAsync(HttpMethod.Patch, path, body);

    public Task<ApiResponse> DeleteAsync(string path) => SendAsync(HttpMethod.Delete, path);

    public void Dispose() => _http.Dispose();
}
