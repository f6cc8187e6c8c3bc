using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Operations;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Operation = Hyperlxd.Core.Operations.Operation;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// <c>/1.0/certificates</c>: the trust store, and how an untrusted TLS client becomes trusted
/// (trust password or a token issued by <c>POST {"token": true}</c>), as the 5.0.2 client does it.
/// </summary>
public static class CertificateEndpoints
{
    private static readonly string[] Types = { "client", "metrics" };

    /// <summary>Gates password and token attempts per source address before any hashing.</summary>
    private static readonly TrustAttemptLimiter Attempts = new();

    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/certificates", async ctx =>
        {
            var trust = ctx.Service<TrustStore>();
            var certs = await trust.ListAsync(ctx.RequestAborted);
            await Collection.Write(ctx, certs, c => Url(c.Fingerprint), ApiJsonContext.Default.Certificate, ApiJsonContext.Default.ListCertificate);
        });
        app.MapPost("/1.0/certificates", ctx => CreateAsync(ctx));
        app.MapGet("/1.0/certificates/{fingerprint}", async ctx =>
        {
            var trust = ctx.Service<TrustStore>();
            var c = await trust.GetAsync(Fp(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, c, ApiJsonContext.Default.Certificate, ETagOf(c));
        });
        app.MapPut("/1.0/certificates/{fingerprint}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch("/1.0/certificates/{fingerprint}", ctx => UpdateAsync(ctx, patch: true));
        app.MapDelete("/1.0/certificates/{fingerprint}", async ctx =>
        {
            var trust = ctx.Service<TrustStore>();
            var events = ctx.Service<EventHub>();
            var c = await trust.DeleteAsync(Fp(ctx), ctx.RequestAborted);
            events.PublishLifecycle("certificate-deleted", Url(c.Fingerprint), null, Caller.Of(ctx).Requestor);
            await Respond.Empty(ctx);
        });
    }

    private static string Fp(HttpContext ctx) => (string)ctx.Request.RouteValues["fingerprint"]!;

    private static string Url(string fp) => "/1.0/certificates/" + fp;

    private static string ETagOf(Certificate c) =>
        ETag.Compute(new CertificatePut { Name = c.Name, Type = c.Type, Restricted = c.Restricted, Projects = c.Projects, Certificate = c.Pem },
            ApiJsonContext.Default.CertificatePut);

    private static async Task CreateAsync(HttpContext ctx)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.CertificatesPost);
        var caller = Caller.Of(ctx);
        var type = string.IsNullOrEmpty(req.Type) ? "client" : req.Type;
        if (!Types.Contains(type))
        {
            throw new BadRequestException($"Invalid certificate type \"{type}\": must be one of {string.Join(", ", Types)}");
        }
        await CheckProjectsExistAsync(ctx, req.Projects);

        if (req.Token)
        {
            if (!caller.IsAdmin)
            {
                throw new ForbiddenException("not authorized: only unrestricted clients can issue tokens");
            }
            await Respond.Async(ctx, IssueToken(ctx.Service<Daemon>(), ctx.Service<OperationManager>(), req));
            return;
        }

        if (!caller.Trusted)
        {
            await TrustCallerAsync(ctx, req, caller.Certificate);
            return;
        }
        if (!caller.IsAdmin)
        {
            // As LXD: a restricted client adds certificates only the way an untrusted one could, with a password or token.
            if (string.IsNullOrEmpty(req.Certificate))
            {
                throw new BadRequestException("Client is already trusted");
            }
            if (string.IsNullOrEmpty(req.Password))
            {
                throw new ForbiddenException("not authorized: a restricted certificate cannot add certificates");
            }
            using var offered = ParseCertificate(req.Certificate);
            await TrustCallerAsync(ctx, req, offered);
            return;
        }

        // A certificate parsed here is ours to dispose; the connection's belongs to the connection.
        using var parsed = string.IsNullOrEmpty(req.Certificate) ? null : ParseCertificate(req.Certificate);
        X509Certificate2 cert;
        if (parsed is not null)
        {
            cert = parsed;
        }
        else
        {
            cert = caller.Certificate ?? throw new BadRequestException("No certificate given, and this connection carries none (use HTTPS or pass \"certificate\")");
        }
        await AddAsync(ctx, cert, req.Name, type, req.Restricted, req.Projects);
        await Respond.Empty(ctx);
    }

    /// <summary>
    /// An untrusted TLS client proves itself with the trust password or a pending token. A token's
    /// own request (name, type, restricted, projects) decides what is trusted: the redeemer overrides nothing.
    /// </summary>
    private static async Task TrustCallerAsync(HttpContext ctx, CertificatesPost req, X509Certificate2? cert)
    {
        var daemon = ctx.Service<Daemon>();
        var operations = ctx.Service<OperationManager>();
        if (cert is null)
        {
            throw new ForbiddenException("A client certificate is required");
        }
        if (string.IsNullOrEmpty(req.Password))
        {
            throw new ForbiddenException("not authorized: a trust password or token is required");
        }
        var address = ctx.Connection.RemoteIpAddress ?? System.Net.IPAddress.None;
        var logger = ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(CertificateEndpoints));
        var refusal = Attempts.TryBegin(address, out var attempt);
        if (refusal != TrustAttemptLimiter.Refusal.None)
        {
            logger.LogWarning("Refused trust attempt from {Address}: {Reason}", address,
                refusal == TrustAttemptLimiter.Refusal.Busy ? "too many attempts in progress" : "too many failed attempts from this address");
            throw new TooManyRequestsException(refusal == TrustAttemptLimiter.Refusal.Busy
                ? "Too many trust attempts in progress: try again shortly"
                : "Too many failed trust attempts from this address: try again later");
        }
        using (attempt)
        {
            var grant = new CertificatesPost { Name = req.Name, Type = "client", Restricted = req.Restricted, Projects = req.Projects };
            var token = FindToken(ctx.Service<OperationManager>(), req.Password);
            if (token?.GetMetadata("request") is CertificatesPost issued)
            {
                grant = new CertificatesPost { Name = issued.Name, Type = string.IsNullOrEmpty(issued.Type) ? "client" : issued.Type, Restricted = issued.Restricted, Projects = issued.Projects };
            }
            else if (!daemon.Config.TryGetValue(ServerConfig.TrustPassword, out var hash) || !TrustPassword.Verify(req.Password, hash))
            {
                logger.LogWarning("Refused trust attempt from {Address}: wrong trust password or invalid token", address);
                throw new ForbiddenException("not authorized: wrong trust password or invalid token");
            }
            attempt!.Succeeded();
            await AddAsync(ctx, cert, grant.Name, grant.Type!, grant.Restricted, grant.Projects);
            if (token is not null)
            {
                operations.Complete(token);
            }
        }
        await Respond.Empty(ctx);
    }

    private static async Task AddAsync(HttpContext ctx, X509Certificate2 cert, string? name, string type, bool restricted, List<string>? projects)
    {
        var trust = ctx.Service<TrustStore>();
        var events = ctx.Service<EventHub>();
        var c = new Certificate
        {
            Fingerprint = Fingerprints.Of(cert),
            Name = string.IsNullOrEmpty(name) ? cert.GetNameInfo(X509NameType.SimpleName, false) : name,
            Type = type,
            Restricted = restricted,
            Projects = projects ?? new(),
            Pem = cert.ExportCertificatePem() + "\n",
        };
        await trust.AddAsync(c, ctx.RequestAborted);
        events.PublishLifecycle("certificate-created", Url(c.Fingerprint), null, Caller.Of(ctx).Requestor);
    }

    /// <summary>Accepts base64 DER (what LXD clients send) or PEM.</summary>
    private static X509Certificate2 ParseCertificate(string text)
    {
        try
        {
            return text.Contains("-----BEGIN", StringComparison.Ordinal)
                ? X509Certificate2.CreateFromPem(text)
                : X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text));
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            throw new BadRequestException($"Invalid certificate: {e.Message}");
        }
    }

    /// <summary>
    /// A token is a pending operation of class "token"; the secret travels inside the base64 JSON the
    /// client is given. Using it (or cancelling the operation) ends it.
    /// </summary>
    private static Operation IssueToken(Daemon daemon, OperationManager operations, CertificatesPost req)
    {
        var addresses = daemon.HttpsAddresses;
        if (addresses.Count == 0)
        {
            throw new BadRequestException($"Can't issue a token when the server isn't listening on the network: set \"{ServerConfig.HttpsAddress}\"");
        }
        if (string.IsNullOrEmpty(req.Name))
        {
            throw new BadRequestException("A token needs a client name (\"name\")");
        }
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        req.Password = null;
        return operations.Start(OperationClass.Token, "Certificate add token", run: null,
            resources: null,
            metadata: new Dictionary<string, object?>
            {
                ["request"] = req,
                ["secret"] = secret,
                ["fingerprint"] = daemon.Certificate.Fingerprint,
                ["addresses"] = addresses.ToList(),
            },
            mayCancel: true);
    }

    private static Operation? FindToken(OperationManager operations, string password)
    {
        CertificateAddToken? token;
        try
        {
            token = JsonSerializer.Deserialize(Encoding.UTF8.GetString(Convert.FromBase64String(password)), ApiJsonContext.Default.CertificateAddToken);
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentException)
        {
            return null;
        }
        if (token is null || string.IsNullOrEmpty(token.Secret))
        {
            return null;
        }
        return operations.List().FirstOrDefault(op =>
            op.Class == OperationClass.Token && !op.Status.IsFinal()
            && op.GetMetadata("secret") is string s
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(s), Encoding.UTF8.GetBytes(token.Secret)));
    }

    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var trust = ctx.Service<TrustStore>();
        var events = ctx.Service<EventHub>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.CertificatePut);
        if (req.Type is { Length: > 0 } t && !Types.Contains(t))
        {
            throw new BadRequestException($"Invalid certificate type \"{t}\": must be one of {string.Join(", ", Types)}");
        }
        await CheckProjectsExistAsync(ctx, req.Projects);
        var caller = Caller.Of(ctx);
        var c = await trust.UpdateAsync(Fp(ctx), c =>
        {
            Collection.CheckETag(ctx, ETagOf(c));
            if (!caller.IsAdmin)
            {
                CheckOwnUnchanged(caller, c, req, patch);
            }
            if (!patch && !string.IsNullOrEmpty(req.Certificate) && Fingerprints.Of(ParseCertificate(req.Certificate)) != c.Fingerprint)
            {
                throw new BadRequestException("The certificate itself cannot be changed");
            }
            c.Name = req.Name is { Length: > 0 } n ? n : patch ? c.Name : throw new BadRequestException("A certificate needs a \"name\"");
            c.Type = req.Type is { Length: > 0 } type ? type : patch ? c.Type : "client";
            c.Restricted = req.Restricted ?? (patch && c.Restricted);
            c.Projects = req.Projects ?? (patch ? c.Projects : new());
        }, ctx.RequestAborted);
        events.PublishLifecycle("certificate-updated", Url(c.Fingerprint), null, Caller.Of(ctx).Requestor);
        await Respond.Empty(ctx);
    }

    /// <summary>
    /// LXD lets a restricted client touch only its own certificate, and change nothing but the
    /// certificate itself (which Hyperlxd does not allow to change at all): not its name, type,
    /// restriction or projects.
    /// </summary>
    private static void CheckOwnUnchanged(Caller caller, Certificate current, CertificatePut req, bool patch)
    {
        if (current.Fingerprint != caller.Username)
        {
            throw new ForbiddenException("not authorized: a restricted certificate can only update itself");
        }
        var changed =
            (req.Name is { Length: > 0 } name ? name != current.Name : !patch) ? "name"
            : (req.Type is { Length: > 0 } type ? type != current.Type : !patch && current.Type != "client") ? "type"
            : (req.Restricted is { } restricted ? restricted != current.Restricted : !patch) ? "restricted"
            : (req.Projects is { } projects ? !projects.SequenceEqual(current.Projects) : !patch && current.Projects.Count > 0) ? "projects"
            : null;
        if (changed is not null)
        {
            throw new ForbiddenException($"not authorized: a restricted certificate cannot change its \"{changed}\" (only the certificate can be changed)");
        }
    }

    /// <summary>A restricted certificate may name only projects that exist (LXD: 400 "Project not found").</summary>
    private static async Task CheckProjectsExistAsync(HttpContext ctx, List<string>? projects)
    {
        foreach (var p in projects ?? new())
        {
            if (await ctx.Service<Hyperlxd.State.StateStore>().Projects.FindAsync(p, ctx.RequestAborted) is null)
            {
                throw new BadRequestException($"Project \"{p}\" not found");
            }
        }
    }
}
