using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Hyperlxd.Api;

namespace Hyperlxd.Cli.Client;

/// <summary>The sync result of a request: the envelope's metadata plus the ETag header (for If-Match).</summary>
public sealed record ApiResult(JsonElement Metadata, string? ETag, int HttpStatus);

/// <summary>
/// Transport (unix socket or HTTPS with a pinned server certificate), LXD envelope parsing and
/// waiting for async operations.
/// </summary>
public sealed class HyperlxdClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly HttpMessageHandler _handler;
    private readonly string _target;

    public HyperlxdClient(HttpMessageHandler handler, Uri baseAddress, string target)
    {
        _handler = handler;
        // Operations can legitimately take long; /wait blocks until they finish.
        _http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("hlx/0.1");
        _target = target;
    }

    public static HyperlxdClient ForUnixSocket(string socketPath) =>
        new(UnixSocketTransport.CreateHandler(socketPath), UnixSocketTransport.BaseAddress, "the local daemon");

    /// <summary>
    /// HTTPS with our client certificate; the server is accepted only if its certificate is
    /// byte-for-byte the pinned one (no CA or host name checks, exactly like lxc's pinning).
    /// </summary>
    public static HyperlxdClient ForHttps(Uri address, X509Certificate2 clientCert, X509Certificate2 pinnedServerCert)
    {
        var pinned = pinnedServerCert.RawData;
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = new X509CertificateCollection { clientCert },
                // Always offer our self-signed cert, even if the server lists acceptable CAs.
                LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCert,
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    cert is not null && cert.GetRawCertData().AsSpan().SequenceEqual(pinned),
            },
        };
        return new HyperlxdClient(handler, address, address.Authority);
    }

    public static string Serialize<T>(T value, JsonTypeInfo<T> typeInfo) => JsonSerializer.Serialize(value, typeInfo);

    public async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> typeInfo, CancellationToken ct = default)
    {
        var result = await QueryAsync(HttpMethod.Get, path, null, null, ct);
        return Decode(result.Metadata, typeInfo, path);
    }

    public static T Decode<T>(JsonElement element, JsonTypeInfo<T> typeInfo, string what)
    {
        try
        {
            return element.Deserialize(typeInfo) ?? throw new CliException($"Empty response from {what}");
        }
        catch (JsonException e)
        {
            throw new CliException($"Invalid response from {what}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Sends a request and returns the sync metadata. Error envelopes throw <see cref="ApiException"/>;
    /// async responses are waited for and the final operation is returned as metadata.
    /// </summary>
    public async Task<ApiResult> QueryAsync(HttpMethod method, string path, string? jsonBody, string? ifMatch, CancellationToken ct = default)
    {
        var (envelope, etag, status, location) = await SendAsync(method, path, jsonBody, ifMatch, ct);
        if (envelope.Type == "async")
        {
            var op = Decode(envelope.Metadata, ApiJsonContext.Default.Operation, path);
            var opUrl = !string.IsNullOrEmpty(envelope.Operation) ? envelope.Operation
                : location ?? "/1.0/operations/" + op.Id;
            return await WaitOperationAsync(opUrl, op, ct);
        }

        return new ApiResult(envelope.Metadata, etag, status);
    }

    /// <summary>
    /// Sends a request that must answer with an operation and returns it without waiting (exec needs
    /// the websocket secrets while the operation runs). The element is the operation as sent.
    /// </summary>
    public async Task<(Operation Op, JsonElement Element, string Url)> StartOperationAsync(HttpMethod method, string path, string? jsonBody, CancellationToken ct = default)
    {
        var (envelope, _, _, location) = await SendAsync(method, path, jsonBody, null, ct);
        if (envelope.Type != "async")
            throw new CliException($"Invalid response from {method} {path}: expected a background operation");
        var op = Decode(envelope.Metadata, ApiJsonContext.Default.Operation, path);
        var url = !string.IsNullOrEmpty(envelope.Operation) ? envelope.Operation : location ?? "/1.0/operations/" + op.Id;
        return (op, envelope.Metadata, url);
    }

    /// <summary>Waits for an operation started by <see cref="StartOperationAsync"/>; failures throw.</summary>
    public Task<ApiResult> WaitAsync(Operation op, string opUrl, CancellationToken ct = default) => WaitOperationAsync(opUrl, op, ct);

    /// <summary>
    /// A request whose success body is not an envelope (file transfer, console log). Error answers
    /// are still LXD envelopes and throw like any other request. The caller disposes the response.
    /// </summary>
    public async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, CancellationToken ct = default)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"Failed to connect to {_target}: {e.InnerException?.Message ?? e.Message}", e);
        }

        if (response.IsSuccessStatusCode)
            return response;
        using (response)
        {
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            ParseEnvelope(body, (int)response.StatusCode, request.Method, request.RequestUri?.ToString() ?? "");
            throw new ApiException($"Request failed with status {(int)response.StatusCode}", (int)response.StatusCode);
        }
    }

    /// <summary>
    /// Opens an operation websocket over the same handler as every other request, so the unix
    /// socket or the pinned-certificate HTTPS connection applies to it too.
    /// </summary>
    public async Task<System.Net.WebSockets.ClientWebSocket> ConnectWebSocketAsync(string pathAndQuery, CancellationToken ct = default)
    {
        var http = new Uri(_http.BaseAddress!, pathAndQuery);
        var ws = new UriBuilder(http) { Scheme = http.Scheme == "https" ? "wss" : "ws" }.Uri;
        var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.SetRequestHeader("User-Agent", "hlx/0.1");
        // Only the handshake goes through the invoker; the shared handler stays ours.
        using var invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
        try
        {
            await socket.ConnectAsync(ws, invoker, ct);
        }
        catch (System.Net.WebSockets.WebSocketException e)
        {
            socket.Dispose();
            throw new CliException($"Failed to connect to {_target} websocket {http.AbsolutePath}: {e.Message}", e);
        }

        return socket;
    }

    /// <summary>Blocks on <c>GET {op}/wait</c> unless the 202 already carried a final status.</summary>
    private async Task<ApiResult> WaitOperationAsync(string opUrl, Operation op, CancellationToken ct)
    {
        JsonElement metadata;
        metadata = JsonSerializer.SerializeToElement(op, ApiJsonContext.Default.Operation);

        // A server may end /wait on its own timeout with the op still running: ask again.
        while (op.StatusCode < 200)
        {
            var (envelope, _, _, _) = await SendAsync(HttpMethod.Get, opUrl + "/wait", null, null, ct);
            metadata = envelope.Metadata;
            op = Decode(metadata, ApiJsonContext.Default.Operation, opUrl);
        }

        if (op.StatusCode is (int)StatusCode.Failure or (int)StatusCode.Cancelled)
        {
            var message = !string.IsNullOrEmpty(op.Err) ? op.Err
                : op.StatusCode == (int)StatusCode.Cancelled ? "Operation cancelled" : "Operation failed";
            throw new ApiException(message, op.StatusCode);
        }

        return new ApiResult(metadata, null, 200);
    }

    /// <summary>Like <see cref="QueryAsync"/> with any body (image uploads) and extra headers.</summary>
    public async Task<ApiResult> UploadAsync(string path, HttpContent content, IReadOnlyDictionary<string, string> headers, CancellationToken ct = default)
    {
        var (envelope, etag, status, location) = await SendAsync(HttpMethod.Post, path, null, null, ct, content, headers);
        if (envelope.Type == "async")
        {
            var op = Decode(envelope.Metadata, ApiJsonContext.Default.Operation, path);
            return await WaitOperationAsync(!string.IsNullOrEmpty(envelope.Operation) ? envelope.Operation : location ?? "/1.0/operations/" + op.Id, op, ct);
        }
        return new ApiResult(envelope.Metadata, etag, status);
    }

    /// <summary>A raw GET (image export): the caller streams the body; error envelopes throw.</summary>
    public async Task<HttpResponseMessage> DownloadAsync(string path, CancellationToken ct = default)
    {
        var response = await _http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                ParseEnvelope(await response.Content.ReadAsByteArrayAsync(ct), (int)response.StatusCode, HttpMethod.Get, path);
            }
            throw new CliException($"Failed to fetch {path}: {(int)response.StatusCode}");
        }
        return response;
    }

    private async Task<(Response Envelope, string? ETag, int Status, string? Location)> SendAsync(
        HttpMethod method, string path, string? jsonBody, string? ifMatch, CancellationToken ct,
        HttpContent? content = null, IReadOnlyDictionary<string, string>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (jsonBody is not null)
            request.Content = new StringContent(jsonBody, Encoding.UTF8, "application/json");
        if (content is not null)
            request.Content = content;
        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
            request.Headers.TryAddWithoutValidation(k, v);
        // LXD ETags are bare hashes (not quoted), so bypass header validation.
        if (ifMatch is not null)
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            var cause = e.InnerException?.Message ?? e.Message;
            throw new CliException($"Failed to connect to {_target}: {cause}", e);
        }

        using (response)
        {
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            var envelope = ParseEnvelope(body, (int)response.StatusCode, method, path);
            var etag = response.Headers.TryGetValues("ETag", out var values) ? values.FirstOrDefault() : null;
            var location = response.Headers.TryGetValues("Location", out var locs) ? locs.FirstOrDefault() : null;
            return (envelope, etag, (int)response.StatusCode, location);
        }
    }

    /// <summary>Turns a raw body into an envelope, throwing for error envelopes and non-JSON failures.</summary>
    public static Response ParseEnvelope(ReadOnlySpan<byte> body, int httpStatus, HttpMethod method, string path)
    {
        Response? envelope = null;
        try
        {
            envelope = JsonSerializer.Deserialize(body, ApiJsonContext.Default.Response);
        }
        catch (JsonException)
        {
            // Not an LXD envelope; handled below.
        }

        if (envelope is null || envelope.Type is not ("sync" or "async" or "error"))
        {
            if (httpStatus is >= 200 and < 300)
                throw new CliException($"Invalid response from {method} {path}: not an LXD response envelope");
            throw new ApiException($"Failed to fetch {path}: {httpStatus} {ReasonPhrase(httpStatus)}".TrimEnd(), httpStatus);
        }

        if (envelope.Type == "error")
        {
            var code = envelope.ErrorCode != 0 ? envelope.ErrorCode : httpStatus;
            throw new ApiException(string.IsNullOrEmpty(envelope.Error) ? $"Request failed with status {code}" : envelope.Error, code);
        }

        return envelope;
    }

    private static string ReasonPhrase(int status) =>
        Enum.IsDefined(typeof(HttpStatusCode), status) ? ((HttpStatusCode)status).ToString() : "";

    public void Dispose() => _http.Dispose();
}
