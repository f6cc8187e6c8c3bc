using System.Text;
using System.Text.Json;
using Hyperlxd.Api;

namespace Hyperlxd.Cli.Client;

/// <summary>Decoding of the trust token <c>lxc config trust add</c> prints (base64 of JSON).</summary>
public static class CertificateToken
{
    /// <summary>
    /// Returns the decoded token, or null when <paramref name="input"/> is not a token at all
    /// (so <c>remote add</c> can treat it as an address instead).
    /// </summary>
    public static CertificateAddToken? TryDecode(string input)
    {
        var bytes = TryBase64(input.Trim());
        if (bytes is null)
            return null;

        CertificateAddToken? token;
        try
        {
            token = JsonSerializer.Deserialize(bytes, ApiJsonContext.Default.CertificateAddToken);
        }
        catch (JsonException)
        {
            return null;
        }

        if (token is null || token.Secret.Length == 0 || token.Fingerprint.Length == 0 || token.Addresses.Count == 0)
            return null;
        return token;
    }

    // Go's encoder uses standard base64 with padding; accept the URL-safe and unpadded forms too.
    private static byte[]? TryBase64(string s)
    {
        if (s.Length == 0 || s.Contains("://", StringComparison.Ordinal))
            return null;
        var normalized = s.Replace('-', '+').Replace('_', '/');
        normalized += (normalized.Length % 4) switch { 2 => "==", 3 => "=", _ => "" };
        var buffer = new byte[normalized.Length];
        if (!Convert.TryFromBase64String(normalized, buffer, out var written))
            return null;
        var bytes = buffer.AsSpan(0, written).ToArray();
        return bytes.Length > 0 && bytes[0] == (byte)'{' ? bytes : null;
    }

    public static string Encode(CertificateAddToken token) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(token, ApiJsonContext.Default.CertificateAddToken)));
}
